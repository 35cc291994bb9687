"""What a decoder returns for a likelihood: how many values per data value, and which of
them come from a learned array rather than from the latent code."""

import dataclasses
from typing import Literal, TypeAlias

SharedScale: TypeAlias = Literal["global", "per_feature"]
"""A likelihood scale learned as a model parameter rather than computed from the latent
code: one number for all the data (`"global"`), or one per data value (`"per_feature"`)."""


@dataclasses.dataclass(frozen=True)
class DecoderOutputs:
    """The shape of a decoder's output for a likelihood, as a model needs to know it.

    A decoder returns `per_value` blocks along the last axis of its output: for data of
    shape `(batch, ..., C)` an output of shape `(batch, ..., per_value * C)`, block `k`
    being `output[..., k * C:(k + 1) * C]` (for flat data `(batch, D)`, `C = D`). A
    likelihood of one parameter per value (a Bernoulli's logits, a fixed-variance
    Gaussian's mean) has `per_value=1`: the output has the shape of the data. With
    `shared` set, the last block is not computed from the latent code: it is a learned
    array of the model, of shape `()` (`"global"`) or of one example's shape
    (`"per_feature"`), broadcast over the batch. The likelihood reads every block the
    same way, whichever way the model fills it.

    Each likelihood says what it needs (`AbstractLikelihood.decoder_outputs`); the
    reference models of `elbox.models` take it as `decoder_outputs=`.

    Attributes:
        per_value: decoder values per data value (at least 1).
        shared: whether the last block is a learned array (`"global"` or
            `"per_feature"`), or None when the decoder computes every block.

    Raises:
        ValueError: for `per_value < 1`, or a `shared` block with `per_value < 2` (the
            first block always depends on the code).

    Example:
        >>> from elbox import DecoderOutputs
        >>> DecoderOutputs(per_value=2, shared="global").computed
        1
    """

    per_value: int = 1
    shared: SharedScale | None = None

    def __post_init__(self) -> None:
        if isinstance(self.per_value, bool) or not isinstance(self.per_value, int):
            raise ValueError(f"DecoderOutputs.per_value must be an int; got {self.per_value!r}")
        if self.per_value < 1:
            raise ValueError(f"DecoderOutputs.per_value must be >= 1; got {self.per_value}")
        if self.shared not in (None, "global", "per_feature"):
            raise ValueError(
                "DecoderOutputs.shared must be 'global', 'per_feature' or None; "
                f"got {self.shared!r}"
            )
        if self.shared is not None and self.per_value < 2:
            raise ValueError(
                "DecoderOutputs.shared needs per_value >= 2: the first block always "
                "depends on the latent code"
            )

    @property
    def computed(self) -> int:
        """The blocks the decoder's layers compute from the latent code."""
        return self.per_value - (0 if self.shared is None else 1)
