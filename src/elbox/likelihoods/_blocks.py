"""A decoder's output split into the blocks a likelihood reads (see `DecoderOutputs`)."""

import jax.numpy as jnp
from jaxtyping import Array, Float


def checked_blocks(
    owner: str,
    x: Float[Array, "batch *features"],
    recon_x: Float[Array, "batch *outputs"],
    count: int,
) -> list[Float[Array, "batch *features"]]:
    """`recon_x` as `count` blocks along its last axis, each of the shape of `x`.

    Raises:
        ValueError: when `recon_x` is not `x`'s shape with the last axis `count` times
            as long; the message names the likelihood and both shapes.
    """
    expected = (*x.shape[:-1], count * x.shape[-1])
    if recon_x.shape != expected:
        per_value = "one decoder value" if count == 1 else f"{count} decoder values"
        raise ValueError(
            f"{owner} reads {per_value} per data value: for data of shape {x.shape} the "
            f"decoder's output must have shape {expected}; got {recon_x.shape} (see "
            "elbox.DecoderOutputs)"
        )
    return split_blocks(owner, recon_x, count)


def split_blocks(
    owner: str, recon_x: Float[Array, "batch *outputs"], count: int
) -> list[Float[Array, "batch *values"]]:
    """`recon_x` as `count` equal blocks along its last axis.

    Raises:
        ValueError: when the last axis does not split into `count` equal blocks.
    """
    if count == 1:
        return [recon_x]
    if recon_x.ndim < 2 or recon_x.shape[-1] % count:
        raise ValueError(
            f"{owner} reads {count} decoder values per data value, so the decoder's "
            f"output's last axis must split into {count} equal blocks; got shape "
            f"{recon_x.shape}"
        )
    return list(jnp.split(recon_x, count, axis=-1))
