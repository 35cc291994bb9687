"""The exponential moving average of the parameters that a training step keeps."""

import dataclasses
from typing import final

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._custom_types import Params, StepLike
from .._dtypes import step_as_float

WARMUP_OFFSET = 10.0
"""The warm-up's decay at step t is `min(decay, (1 + t) / (WARMUP_OFFSET + t))`."""


@final
@dataclasses.dataclass(frozen=True)
class WeightAverage:
    """How a step averages the parameters: `ema <- ema + (1 - d) * (params - ema)` after
    each applied update, with `d = decay`, or during the warm-up
    `d = min(decay, (1 + t) / (10 + t))` at step `t` (the warm-up of TensorFlow's
    `ExponentialMovingAverage` with `num_updates`), so that the average is not held near
    the initial weights in a short run. The average starts as a copy of the initial
    parameters, so it needs no bias correction.

    Attributes:
        decay: the decay `d` in [0, 1).
        warmup: use the warm-up.
    """

    decay: float
    warmup: bool = True

    def decay_at(self, step: StepLike) -> Float[Array, ""]:
        """The decay that the update after step `step` uses."""
        decay = jnp.asarray(self.decay, step_as_float(step).dtype)
        if not self.warmup:
            return decay
        t = step_as_float(step)
        return jnp.minimum(decay, (1.0 + t) / (WARMUP_OFFSET + t))

    def updated(self, average: Params, params: Params, step: StepLike) -> Params:
        """The average after the update of step `step` gave `params`: one pass over them."""
        rate = 1.0 - self.decay_at(step)
        new: Params = jax.tree.map(
            lambda mean, value: mean + rate.astype(mean.dtype) * (value - mean), average, params
        )
        return new
