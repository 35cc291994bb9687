"""Importance weights: their effective sample size, and the gate that gives DReG its
squared weights."""

import jax
import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Float, jaxtyped


@jaxtyped(typechecker=beartype)
def effective_sample_size(
    log_weights: Float[Array, "*batch samples"],
) -> Float[Array, "*batch"]:
    """The effective sample size of importance weights given by their logs, along the
    last axis.

    Kong (1992), "A note on importance sampling using standardized weights"; Owen (2013),
    "Monte Carlo theory, methods and examples", eq. 9.13:

        ESS = (sum_k w_k)**2 / sum_k w_k**2

    It lies between 1 (one weight carries everything) and K (equal weights), and does not
    depend on the weights' scale. Computed from the logs as
    `exp(2 * logsumexp(log_w) - logsumexp(2 * log_w))`, so weights far outside the
    floating-point range are fine.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import effective_sample_size
        >>> weights = jnp.array([[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 0.0, 0.0]])
        >>> [round(ess, 4) for ess in effective_sample_size(jnp.log(weights)).tolist()]
        [4.0, 2.0]
    """
    total = jax.nn.logsumexp(log_weights, axis=-1)
    squares = jax.nn.logsumexp(2.0 * log_weights, axis=-1)
    return jnp.exp(2.0 * total - squares)


@jax.custom_vjp
def weights_gate(
    z: Float[Array, "batch samples latent"],
) -> tuple[Float[Array, "batch samples latent"], Float[Array, "batch samples"]]:
    """`(z, zeros)`: `z` unchanged, and zeros to add to the log-weights `log_w[b, k]`.

    In the backward pass the gradient reaching `z[b, k]` is multiplied by the normalised
    importance weight `w~[b, k] = w[b, k] / sum_j w[b, j]`. The gate reads the weights
    from the gradient reaching the zeros: when the loss depends on the log-weights only
    through `logsumexp` over the samples, as the importance-weighted bound does,
    `d loss / d log_w[b, k] = c_b * w~[b, k]`, and its sum over `k` is `c_b`.

    That is what DReG needs (Tucker et al. 2019, eq. 5): the bound's gradient reaches
    the decoder weighted by `w~` and the latent codes, and through them the encoder,
    weighted by `w~**2`, with one forward and one backward pass through the decoder.
    """
    return z, jnp.zeros(z.shape[:-1], z.dtype)


def _gate_forward(
    z: Float[Array, "batch samples latent"],
) -> tuple[tuple[Array, Array], None]:
    return weights_gate(z), None


def _gate_backward(
    _: None, cotangents: tuple[Array, Array]
) -> tuple[Float[Array, "batch samples latent"]]:
    dz, dlog_w = cotangents
    total = jnp.sum(dlog_w, axis=-1, keepdims=True)
    # An example whose bound the loss does not use passes no gradient to its codes.
    unused = total == 0
    weights = jnp.where(unused, 0.0, dlog_w / jnp.where(unused, 1.0, total))
    return (dz * weights[..., None],)


weights_gate.defvjp(_gate_forward, _gate_backward)
