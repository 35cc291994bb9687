"""The last layer of a reference decoder: the blocks a likelihood reads, some of them
learned arrays (see `DecoderOutputs`)."""

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._decoder_outputs import DecoderOutputs


def checked_decoder_outputs(decoder_outputs: object, output: str) -> DecoderOutputs:
    """`decoder_outputs` if it is a `DecoderOutputs` that the decoder's `output` suits.

    Raises:
        TypeError: for anything but a `DecoderOutputs`.
        ValueError: for a sigmoid output with more than one block (a scale or a mixture
            weight is not a probability).
    """
    if not isinstance(decoder_outputs, DecoderOutputs):
        raise TypeError(
            "decoder_outputs must be an elbox.DecoderOutputs (a likelihood's "
            f"`decoder_outputs`); got {type(decoder_outputs).__name__}"
        )
    if output == "sigmoid" and decoder_outputs.per_value > 1:
        raise ValueError(
            f"output='sigmoid' squashes every decoder value into (0, 1), but the likelihood "
            f"reads {decoder_outputs.per_value} values per data value (a scale or mixture "
            "weights among them): use output='logits'"
        )
    return decoder_outputs


def shared_shape(
    decoder_outputs: DecoderOutputs, example_shape: tuple[int, ...]
) -> tuple[int, ...]:
    """The shape of the learned array of a shared block: `()` for a global one, an
    example's shape for one per value."""
    return () if decoder_outputs.shared == "global" else example_shape


def with_shared_block(
    computed: Float[Array, "batch *outputs"],
    shared: Float[Array, "*shared"] | None,
    example_shape: tuple[int, ...],
) -> Float[Array, "batch *more"]:
    """The decoder's computed blocks with the learned block (of shape `()` or
    `example_shape`) appended along the last axis, broadcast over the batch; the
    computed blocks alone when there is no learned one."""
    if shared is None:
        return computed
    block = jnp.broadcast_to(shared, (computed.shape[0], *example_shape))
    return jnp.concatenate([computed, block.astype(computed.dtype)], axis=-1)
