"""The mutual information between x and z under the encoder (He et al., 2019)."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import checked_data
from ._model import EncoderDecoder, check_model
from ._posterior import posterior_parameters

# Values of one (z, x) log-density table built at once: `chunk * batch * latent`.
_TABLE_SIZE = 2**22


def mutual_information(
    model: EncoderDecoder,
    x: Float[Array, "batch *features"] | Float[np.ndarray, "batch *features"],
    *,
    key: PRNGKeyArray,
    batch_size: int | None = None,
) -> float:
    """An estimate of I_q(x; z), the mutual information between the data and the code.

    The diagnostic of He, Spokoyny, Neubig and Berg-Kirkpatrick (2019, "Lagging inference
    networks and posterior collapse in variational autoencoders", eq. 4), computed as
    their `calc_mi` does (github.com/jxhe/vae-lagging-encoder,
    `modules/encoders/encoder.py`, `GaussianEncoderBase.calc_mi`), over the evaluated
    examples x_1..x_N:

        I_q(x; z) = E_x[-H(q(z|x))] - E_z[log q(z)]

    The first term is exact for the Gaussian posterior,
    `-H(q(z|x_i)) = -(L/2) log(2 pi) - (1/2) sum_j (1 + logvar_ij)`. For the second, one
    code `z_i ~ q(z|x_i)` is drawn per example and the aggregate posterior is the
    mixture of the evaluated posteriors,
    `log q(z_i) = logsumexp_n log q(z_i|x_n) - log N` (x_i included). An encoder that
    ignores x scores 0 (up to the Monte Carlo error of the first term, about
    `sqrt(L / (2 N))` nats); the estimate cannot exceed `log N`. In nats.

    The codes are `means + exp(logvars / 2) * jax.random.normal(key, means.shape)`, with
    `(means, logvars) = posterior_parameters(model, x, batch_size=batch_size)`. The
    N x N table of log-densities is built a few rows at a time, so memory stays bounded.

    Args:
        model: a VAE with `encode(x) -> (mean, logvar)` and `decode(z)` (Flax NNX or
            Equinox; see [`EncoderDecoder`][elbox.metrics.EncoderDecoder]).
        x: the data, a JAX or NumPy floating-point array of shape `(batch, ...)`, with at
            least two examples.
        key: the key of the codes z_i.
        batch_size: examples per call to the encoder; `None` for all at once.

    Returns:
        The estimate, in nats.

    Raises:
        TypeError: for a model without `encode` and `decode`.
        ValueError: for `x` that is not floating-point data of shape `(batch, ...)` with at
            least two examples, or a `batch_size` below 1.

    Example:
        >>> import jax
        >>> from elbox.metrics import mutual_information
        >>> from elbox.models.equinox import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, key=jax.random.key(0))
        >>> x = jax.random.uniform(jax.random.key(1), (100, 64))
        >>> estimate = mutual_information(model, x, key=jax.random.key(2))
        >>> 0.0 <= estimate <= 4.61  # log 100
        True
    """
    check_model(model, "mutual_information")
    data = checked_data(x, "mutual_information")
    if data.shape[0] < 2:
        raise ValueError(
            "mutual_information: x must hold at least 2 examples (the aggregate posterior "
            f"is a mixture over them); got {data.shape[0]}"
        )
    means, logvars = posterior_parameters(model, data, batch_size=batch_size)
    chunk = max(1, min(means.shape[0], _TABLE_SIZE // means.size))
    return float(_estimate(means, logvars, key, chunk=chunk))


@functools.partial(jax.jit, static_argnames="chunk")
def _estimate(
    means: Float[Array, "batch latent"],
    logvars: Float[Array, "batch latent"],
    key: PRNGKeyArray,
    *,
    chunk: int,
) -> Float[Array, ""]:
    num = means.shape[0]
    # The (L/2) log(2 pi) of each log-density cancels between the two terms: left out.
    neg_entropy = jnp.mean(-0.5 * jnp.sum(1.0 + logvars, axis=-1))
    codes = means + jnp.exp(0.5 * logvars) * jax.random.normal(key, means.shape, means.dtype)
    inverse_var = jnp.exp(-logvars)
    half_log_det = 0.5 * jnp.sum(logvars, axis=-1)

    def log_aggregate(code: Float[Array, " latent"]) -> Float[Array, ""]:
        deviation = code[None] - means
        log_density = -0.5 * jnp.sum(deviation**2 * inverse_var, axis=-1) - half_log_det
        return jax.nn.logsumexp(log_density) - math.log(num)

    log_q_z = jax.lax.map(log_aggregate, codes, batch_size=chunk)
    return neg_entropy - jnp.mean(log_q_z)
