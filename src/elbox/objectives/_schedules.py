"""KL weight schedules: functions from a training step to the weight of the KL term.

Each schedule is an `eqx.Module` called as `schedule(step)`, where `step` is a Python int or
an integer JAX array, traced or not, so a new step never triggers a recompilation. Any optax
schedule (a callable from step to value) can stand wherever a schedule does.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._config import VAETrainingConfig
from .._custom_types import StepLike
from .._dtypes import float_dtype, step_as_float


class AbstractKLSchedule(eqx.Module):
    """A KL weight schedule: `schedule(step)` is the weight of the KL term at `step`.

    Subclass it to add a schedule; the weight includes `beta`.
    """

    @abc.abstractmethod
    def __call__(self, step: StepLike) -> Float[Array, ""]:
        """The KL weight at `step` (a Python int or an integer array, traced or not)."""


class ConstantSchedule(AbstractKLSchedule):
    """No annealing: the weight is `beta` at every step.

    Example:
        >>> from elbox import ConstantSchedule
        >>> float(ConstantSchedule(beta=4.0)(123))
        4.0
    """

    beta: float = eqx.field(static=True)

    def __call__(self, step: StepLike) -> Float[Array, ""]:
        return jnp.full((), self.beta, dtype=float_dtype())


class LinearWarmup(AbstractKLSchedule):
    """Linear warm-up: `beta * min(1, step / max(1, warmup_steps))`.

    `warmup_steps=0` gives the full weight from step 0.

    Example:
        >>> from elbox import LinearWarmup
        >>> float(LinearWarmup(beta=2.0, warmup_steps=100)(25))
        0.5
    """

    beta: float = eqx.field(static=True)
    warmup_steps: int = eqx.field(static=True)

    def __call__(self, step: StepLike) -> Float[Array, ""]:
        if self.warmup_steps == 0:
            return jnp.full((), self.beta, dtype=float_dtype())
        progress = jnp.minimum(1.0, step_as_float(step) / self.warmup_steps)
        return self.beta * progress


class SigmoidWarmup(AbstractKLSchedule):
    """Sigmoid warm-up: `beta * sigmoid((step - W/2) / max(1, W/10))` with `W = warmup_steps`.

    The weight is `beta / 2` at step `W/2`; `warmup_steps=0` gives the full weight from
    step 0.

    Example:
        >>> from elbox import SigmoidWarmup
        >>> float(SigmoidWarmup(beta=1.0, warmup_steps=1000)(500))
        0.5
    """

    beta: float = eqx.field(static=True)
    warmup_steps: int = eqx.field(static=True)

    def __call__(self, step: StepLike) -> Float[Array, ""]:
        if self.warmup_steps == 0:
            return jnp.full((), self.beta, dtype=float_dtype())
        centre = self.warmup_steps / 2
        scale = max(1.0, self.warmup_steps / 10)
        return self.beta * jax.nn.sigmoid((step_as_float(step) - centre) / scale)


class CyclicalSchedule(AbstractKLSchedule):
    """Cyclical annealing: `beta * min(1, (step mod P) / max(1, P/2))` with `P = period`.

    Each period ramps linearly from 0 to `beta` over its first half and holds `beta` over
    the second (Fu et al., 2019).

    Example:
        >>> from elbox import CyclicalSchedule
        >>> [float(CyclicalSchedule(beta=1.0, period=4)(s)) for s in range(5)]
        [0.0, 0.5, 1.0, 1.0, 0.0]
    """

    beta: float = eqx.field(static=True)
    period: int = eqx.field(static=True)

    def __call__(self, step: StepLike) -> Float[Array, ""]:
        # The modulo is taken on integers, so steps past 2**24 stay exact in float32.
        position = jnp.mod(jnp.asarray(step), self.period).astype(float_dtype())
        return self.beta * jnp.minimum(1.0, position / max(1.0, self.period / 2))


def schedule_from_config(config: VAETrainingConfig) -> AbstractKLSchedule:
    """The KL weight schedule that `config` describes.

    Example:
        >>> from elbox import VAETrainingConfig, schedule_from_config
        >>> schedule_from_config(VAETrainingConfig(kl_annealing="none", beta=4.0))
        ConstantSchedule(beta=4.0)
    """
    match config.kl_annealing:
        case "none":
            return ConstantSchedule(beta=config.beta)
        case "linear":
            return LinearWarmup(beta=config.beta, warmup_steps=config.kl_warmup_steps)
        case "sigmoid":
            return SigmoidWarmup(beta=config.beta, warmup_steps=config.kl_warmup_steps)
        case "cyclical":
            return CyclicalSchedule(beta=config.beta, period=config.cyclical_period)
