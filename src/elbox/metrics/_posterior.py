"""The posterior's parameters for a whole data set, encoded in compiled batches."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._custom_types import ModelState, Params
from ..frameworks._model_def import AbstractModelDef
from ..frameworks._seam import framework_of
from ._batches import padded_batches
from ._checks import checked_batch_size, checked_data
from ._model import EncoderDecoder, check_model, encode


def posterior_parameters(
    model: EncoderDecoder,
    x: Float[Array, "batch *features"] | Float[np.ndarray, "batch *features"],
    *,
    batch_size: int | None = None,
) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
    """`model.encode` over all of `x`: the posterior's `(means, logvars)`.

    The encoder runs compiled, on `batch_size` examples at a time (all of `x` at once
    with `None`); the last batch is padded, so it compiles once per shape. The means are
    the latent codes that the disentanglement metrics take.

    Args:
        model: a VAE with `encode(x) -> (mean, logvar)` and `decode(z)` (Flax NNX or
            Equinox; see [`EncoderDecoder`][elbox.metrics.EncoderDecoder]).
        x: the data, a JAX or NumPy floating-point array of shape `(batch, ...)`.
        batch_size: examples per call to the encoder; `None` for all at once.

    Returns:
        The means and log-variances, each of shape `(batch, latent)`.

    Raises:
        TypeError: for a model without `encode` and `decode`.
        ValueError: for `x` that is not floating-point data of shape `(batch, ...)`, or
            a `batch_size` below 1.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from elbox.metrics import posterior_parameters
        >>> from elbox.models.equinox import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, key=jax.random.key(0))
        >>> x = jnp.zeros((10, 64))
        >>> means, logvars = posterior_parameters(model, x, batch_size=4)
        >>> means.shape, logvars.shape
        ((10, 4), (10, 4))
    """
    check_model(model, "posterior_parameters")
    data = checked_data(x, "posterior_parameters")
    size = checked_batch_size(batch_size, data.shape[0])
    framework = framework_of(model)
    definition, params, model_state = framework.split(framework.inference(model))
    means, logvars = [], []
    for _, count, batch in padded_batches(data, size):
        mean, logvar = _encode(definition, params, model_state, batch)
        means.append(mean[:count])
        logvars.append(logvar[:count])
    return jnp.concatenate(means), jnp.concatenate(logvars)


@eqx.filter_jit
def _encode(
    definition: AbstractModelDef, params: Params, model_state: ModelState, x: jax.Array
) -> tuple[jax.Array, jax.Array]:
    return encode(definition.merge(params, model_state), x)
