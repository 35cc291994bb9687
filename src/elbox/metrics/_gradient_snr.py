"""The signal-to-noise ratio of an objective's gradient estimates (Rainforth et al. 2018)."""

import dataclasses
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Key, PRNGKeyArray

from .._custom_types import ModelState, Params
from .._validation import checked_int
from ..frameworks._model_def import AbstractModelDef
from ..frameworks._seam import framework_of
from ..objectives._objective import AbstractObjective
from ._checks import checked_data
from ._model import EncoderDecoder, check_model, encode


@final
@dataclasses.dataclass(frozen=True, eq=False)
class GradientSNR:
    """The gradient signal-to-noise ratios of `gradient_snr`.

    Attributes:
        encoder: the mean SNR over the encoder's gradient components (nan when it has
            none that any draw moves).
        decoder: the mean SNR over the other components: the decoder's, and a learned
            likelihood scale's.
        per_parameter: the SNR of every component, a pytree of the trained parameters'
            structure (nan where every draw gave exactly zero).
        is_encoder: for each parameter array, whether it is the encoder's.
    """

    encoder: float
    decoder: float
    per_parameter: Any
    is_encoder: Any


def gradient_snr(
    model: EncoderDecoder,
    x: Float[Array, "batch *features"] | Float[np.ndarray, "batch *features"],
    *,
    objective: AbstractObjective,
    num_draws: int = 100,
    key: PRNGKeyArray,
    step: int = 0,
) -> GradientSNR:
    r"""The signal-to-noise ratio of the encoder's and the decoder's gradient estimates.

    Rainforth, Kosiorek, Le, Maddison, Igl, Wood and Teh (2018), "Tighter variational
    bounds are not necessarily better", eq. 7: for each component of the parameters,

        SNR = | E[Delta] | / sigma[Delta]

    where `Delta` is the objective's gradient estimate on the batch `x` at the model's
    fixed parameters, and the mean and standard deviation are over the estimator's noise.
    They are estimated from `num_draws` draws, each with its own key split from `key`
    (the sample standard deviation, `num_draws - 1` in its denominator). The gradient of
    the loss is the negative of the bound's; the SNR is the same. Rainforth et al. show
    that the standard IWAE encoder's SNR falls like `1/sqrt(K)` while the decoder's
    rises like `sqrt(K)`; DReG's encoder SNR does not fall (Tucker et al. 2019).

    A parameter array is the encoder's when `model.encode(x)` depends on it (found by one
    reverse pass of `encode` with random cotangents); every other one is the decoder's. A
    component whose every draw is exactly zero (a parameter the objective does not use,
    or an STL or DReG encoder at the exact posterior) has no SNR (nan) and is left out of
    the means; one with a nonzero mean and no spread has an infinite SNR.

    Args:
        model: a VAE with `encode` and `decode` (Flax NNX or Equinox); its parameters are
            those an optimizer would train (`nnx.Param`, or every floating-point array of
            an Equinox model).
        x: the batch of the gradient estimates.
        objective: the objective whose gradient is measured, such as
            `IWAEObjective(num_samples=50, gradient="dreg")`.
        num_draws: the gradient estimates drawn (at least 2).
        key: the key of the draws.
        step: the training step the objective sees (its KL schedule's).

    Returns:
        A `GradientSNR`.

    Raises:
        TypeError: for a model without `encode` and `decode`.
        ValueError: for `num_draws < 2` or `x` that is not floating-point data.

    Example:
        >>> import jax
        >>> from elbox import IWAEObjective
        >>> from elbox.metrics import gradient_snr
        >>> from elbox.models.equinox import MLPVAE
        >>> model = MLPVAE(6, hidden=8, latent=2, key=jax.random.key(0))
        >>> x = jax.random.uniform(jax.random.key(1), (4, 6))
        >>> snr = gradient_snr(model, x, objective=IWAEObjective(5, gradient="dreg"),
        ...                    num_draws=20, key=jax.random.key(2))
        >>> snr.encoder > 0 and snr.decoder > 0
        True
    """
    check_model(model, "gradient_snr")
    draws = checked_int("", "num_draws", num_draws, 2)
    data = jnp.asarray(checked_data(x, "gradient_snr"))
    definition, params, model_state = framework_of(model).split(model)
    probe_key, draws_key = jax.random.split(key)
    is_encoder = _encoder_arrays(definition, params, model_state, data, probe_key)
    mean, variance, moved = _moments(
        definition,
        params,
        model_state,
        data,
        jax.random.split(draws_key, draws),
        objective,
        jnp.asarray(step, jnp.int32),
    )
    snr = jax.tree.map(
        lambda m, v, used: jnp.where(used, jnp.abs(m) / jnp.sqrt(v), jnp.nan),
        mean,
        variance,
        moved,
    )
    pairs = list(zip(jax.tree.leaves(snr), jax.tree.leaves(is_encoder), strict=True))
    encoder_parts = [leaf for leaf, own in pairs if own]
    decoder_parts = [leaf for leaf, own in pairs if not own]
    return GradientSNR(
        encoder=_mean_of_defined(encoder_parts),
        decoder=_mean_of_defined(decoder_parts),
        per_parameter=snr,
        is_encoder=is_encoder,
    )


def _mean_of_defined(parts: list[Array]) -> float:
    values = np.concatenate([np.ravel(np.asarray(part)) for part in parts] or [np.zeros(0)])
    defined = values[~np.isnan(values)]
    return float(np.mean(defined)) if defined.size else float("nan")


@eqx.filter_jit
def _encoder_arrays(
    definition: AbstractModelDef,
    params: Params,
    model_state: ModelState,
    x: Array,
    key: PRNGKeyArray,
) -> Any:
    """For each parameter array, whether `encode(x)` depends on it."""

    def encoded(trained: Params) -> tuple[Array, Array]:
        return encode(definition.merge(trained, model_state), x)

    outputs, pullback = jax.vjp(encoded, params)
    first, second = jax.random.split(key)
    probe = (
        jax.random.normal(first, outputs[0].shape, outputs[0].dtype),
        jax.random.normal(second, outputs[1].shape, outputs[1].dtype),
    )
    (sensitivity,) = pullback(probe)
    return jax.tree.map(lambda g: jnp.any(g != 0), sensitivity)


@eqx.filter_jit
def _moments(
    definition: AbstractModelDef,
    params: Params,
    model_state: ModelState,
    x: Array,
    keys: Key[Array, " draws"],
    objective: AbstractObjective,
    step: Array,
) -> tuple[Params, Params, Any]:
    """The mean and sample variance of the gradient over one draw per key (Welford's
    running update), and where any draw was nonzero."""

    def gradient(state: ModelState, key: PRNGKeyArray) -> tuple[Params, ModelState]:
        def loss_of(trained: Params) -> tuple[Float[Array, ""], ModelState]:
            model, state_after = definition.merge_running(trained, state)
            loss, _ = objective(model, x, step=step, key=key)
            return loss, state_after()

        grads, new_state = jax.grad(loss_of, has_aux=True)(params)
        return grads, new_state

    zeros = jax.tree.map(jnp.zeros_like, params)
    moved = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, bool), params)

    def accumulate(
        carry: tuple[Array, Params, Params, Any, ModelState], key: PRNGKeyArray
    ) -> tuple[tuple[Array, Params, Params, Any, ModelState], None]:
        count, mean, m2, nonzero, state = carry
        grads, state = gradient(state, key)
        count = count + 1.0
        delta = jax.tree.map(lambda g, m: g - m, grads, mean)
        mean = jax.tree.map(lambda m, d: m + d / count, mean, delta)
        m2 = jax.tree.map(lambda s, d, g, m: s + d * (g - m), m2, delta, grads, mean)
        nonzero = jax.tree.map(lambda n, g: n | (g != 0), nonzero, grads)
        return (count, mean, m2, nonzero, state), None

    initial = (jnp.asarray(0.0, x.dtype), zeros, zeros, moved, model_state)
    (count, mean, m2, nonzero, _), _ = jax.lax.scan(accumulate, initial, keys)
    variance = jax.tree.map(lambda s: s / (count - 1.0), m2)
    return mean, variance, nonzero
