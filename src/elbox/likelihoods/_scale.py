"""The scale of a location-scale likelihood: a fixed number, or learned and read from the
decoder's output."""

import math
import numbers
from typing import Final, Literal, TypeAlias

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._decoder_outputs import DecoderOutputs
from ._blocks import checked_blocks, split_blocks

LearnedScale: TypeAlias = Literal["global", "per_feature", "decoder"]
"""Where a learned scale comes from: one learned number (`"global"`), one learned number
per data value (`"per_feature"`), both parameters of the model, or the decoder's
prediction from the latent code (`"decoder"`)."""

LEARNED_SCALES: Final[tuple[str, ...]] = ("global", "per_feature", "decoder")

MIN_LOG_SCALE: Final = -7.0
"""The floor of a learned log-scale, as in PixelCNN++ (openai/pixel-cnn, `pixel_cnn_pp/
nn.py`, `discretized_mix_logistic_loss`): a density of data with repeated values (a
background of zeros) would otherwise shrink its scale without end."""


def checked_scale(owner: str, name: str, value: object) -> float | LearnedScale:
    """`value` as a positive float, or one of the learned scales.

    Raises:
        ValueError: for anything else; the message names the field.
    """
    if isinstance(value, str) and value in LEARNED_SCALES:
        return value  # type: ignore[return-value]  # one of the Literal's values, checked
    real = not isinstance(value, bool) and isinstance(value, numbers.Real)
    number = float(value) if real else math.nan  # type: ignore[arg-type]  # a Real, checked
    if math.isfinite(number) and number > 0:
        return number
    learned = ", ".join(repr(choice) for choice in LEARNED_SCALES)
    raise ValueError(f"{owner}.{name} must be a positive number or one of {learned}; got {value!r}")


def scale_outputs(scale: float | LearnedScale) -> DecoderOutputs:
    """The decoder's outputs for a location and this scale."""
    if isinstance(scale, str):
        return DecoderOutputs(2, None if scale == "decoder" else scale)
    return DecoderOutputs()


def location_and_log_scale(
    owner: str,
    x: Float[Array, "batch *features"],
    recon_x: Float[Array, "batch *outputs"],
    scale: float | LearnedScale,
    fixed_log_scale: float,
) -> tuple[Float[Array, "batch *features"], Float[Array, "batch *features"] | float]:
    """The location and the log-scale, the second floored at `MIN_LOG_SCALE` when
    learned (`fixed_log_scale` otherwise)."""
    if isinstance(scale, str):
        location, log_scale = checked_blocks(owner, x, recon_x, 2)
        return location, jnp.maximum(log_scale, MIN_LOG_SCALE)
    (location,) = checked_blocks(owner, x, recon_x, 1)
    return location, fixed_log_scale


def location(
    owner: str, recon_x: Float[Array, "batch *outputs"], scale: float | LearnedScale
) -> Float[Array, "batch *values"]:
    """The location block of a decoder's output."""
    return split_blocks(owner, recon_x, scale_outputs(scale).per_value)[0]


def describe_scale(noun: str, scale: float | LearnedScale) -> str:
    """The scale in words: "variance 0.5", "learned global variance", ..."""
    if isinstance(scale, str):
        return {
            "global": f"a learned global {noun}",
            "per_feature": f"a learned {noun} per value",
            "decoder": f"a {noun} the decoder predicts",
        }[scale]
    return f"{noun} {scale:g}"
