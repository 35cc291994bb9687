"""The VAE training configuration: KL annealing, beta and free bits."""

import dataclasses
from collections.abc import Mapping
from typing import Any, get_args, no_type_check

from ._custom_types import FreeBitsMode, KLAnnealing
from ._validation import checked_choice, checked_int, checked_non_negative_float

KL_ANNEALING_CHOICES: tuple[str, ...] = get_args(KLAnnealing)
FREE_BITS_MODE_CHOICES: tuple[str, ...] = get_args(FreeBitsMode)


# `__post_init__` validates every field with a ValueError that names it; `no_type_check` keeps
# the test suite's jaxtyping import hook from pre-empting those messages with its own.
@no_type_check
@dataclasses.dataclass(frozen=True)
class VAETrainingConfig:
    """Configuration for VAE-specific training.

    Every field is validated when the config is made: a bad value raises `ValueError`
    naming the field and the value.

    Attributes:
        kl_annealing: KL weight schedule: `"none"` (constant `beta`), `"linear"`,
            `"sigmoid"` or `"cyclical"`.
        kl_warmup_steps: steps until the linear and sigmoid schedules reach `beta`;
            `0` means the full weight from step 0.
        beta: the final KL weight (beta-VAE); `1.0` is the standard ELBO.
        free_bits: the minimum KL, in nats, per latent dimension (`0.0` turns it off).
        cyclical_period: the period, in steps, of the cyclical schedule: the weight
            ramps from 0 to `beta` over the first half and holds over the second.
        free_bits_mode: `"per_sample"` clamps each sample's KL per dimension (the
            reference behaviour); `"batch"` clamps the batch-averaged KL of each dimension,
            as in Kingma et al. (2016).

    Example:
        >>> from elbox import VAETrainingConfig
        >>> config = VAETrainingConfig(kl_annealing="cyclical", beta=4.0, free_bits=0.5)
        >>> config.cyclical_period
        10000
    """

    kl_annealing: KLAnnealing = "linear"
    kl_warmup_steps: int = 10000
    beta: float = 1.0
    free_bits: float = 0.0
    cyclical_period: int = 10000
    free_bits_mode: FreeBitsMode = "per_sample"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        checked_choice(owner, "kl_annealing", self.kl_annealing, KL_ANNEALING_CHOICES)
        checked_choice(owner, "free_bits_mode", self.free_bits_mode, FREE_BITS_MODE_CHOICES)
        # Store plain Python numbers (NumPy scalars are accepted), so the config is hashable
        # and serialises to JSON as it reads.
        for name, minimum in (("kl_warmup_steps", 0), ("cyclical_period", 1)):
            object.__setattr__(self, name, checked_int(owner, name, getattr(self, name), minimum))
        for name in ("beta", "free_bits"):
            number = checked_non_negative_float(owner, name, getattr(self, name))
            object.__setattr__(self, name, number)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> "VAETrainingConfig":
        """Rebuild a config from `to_dict`'s output; unknown keys raise `ValueError`."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(
                f"VAETrainingConfig has no field(s) {unknown}; the fields are {sorted(known)}"
            )
        return cls(**fields)
