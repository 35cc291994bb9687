"""The data a likelihood is a normalised distribution of: its support, checked on the host."""

import dataclasses
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

SupportName = Literal["real", "unit_interval", "binary", "binarised", "8-bit"]
"""The kinds of data a likelihood is a distribution of: any real values, values in [0, 1],
values 0 or 1, grey levels binarised by the likelihood, or the 256 levels of 8-bit data."""

# A value counts as on the 8-bit grid when 255 x is within this of an integer: float32
# holds k / 255 to about 1e-5 after the multiplication.
_GRID_TOLERANCE: Final = 1e-3


@dataclasses.dataclass(frozen=True)
class Support:
    """Where a likelihood puts its probability: the values `x` may take for `log_prob` to
    be a normalised log-density (continuous data) or log-probability (discrete data).

    Attributes:
        name: `"real"` (any finite number), `"unit_interval"` ([0, 1]), `"binary"`
            (0 or 1), `"binarised"` (values in [0, 1], which the likelihood binarises
            before it models them) or `"8-bit"` (k / 255 for k = 0..255).
    """

    name: SupportName

    @property
    def discrete(self) -> bool:
        """Whether the data is discrete: its log-likelihood is a log-probability, reported
        in bits per dimension too."""
        return self.name in ("binary", "binarised", "8-bit")

    def contains(self, x: npt.ArrayLike) -> bool:
        """Whether every value of `x` lies in this support."""
        values = np.asarray(x, np.float64)
        if not np.all(np.isfinite(values)):
            return False
        if self.name == "real":
            return True
        if self.name == "binary":
            return bool(np.all((values == 0.0) | (values == 1.0)))
        inside = bool(np.all((values >= 0.0) & (values <= 1.0)))
        if self.name != "8-bit" or not inside:
            return inside
        levels = values * 255.0
        return bool(np.all(np.abs(levels - np.round(levels)) < _GRID_TOLERANCE))

    def describe(self) -> str:
        """The support in words, for messages."""
        return {
            "real": "real numbers",
            "unit_interval": "values in [0, 1]",
            "binary": "binary values (0 or 1)",
            "binarised": "values in [0, 1], binarised",
            "8-bit": "8-bit values (k / 255 for integers k from 0 to 255)",
        }[self.name]


REAL: Final = Support("real")
UNIT_INTERVAL: Final = Support("unit_interval")
BINARY: Final = Support("binary")
BINARISED: Final = Support("binarised")
EIGHT_BIT: Final = Support("8-bit")
