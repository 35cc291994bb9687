"""Binarising grey levels in [0, 1] for a Bernoulli likelihood: a fresh draw at every step
(dynamic), or one fixed draw per example (for evaluation)."""

import math
from typing import Final, Literal, TypeAlias

import jax
import jax.numpy as jnp
from jax.extend.random import threefry_2x32
from jaxtyping import Array, Float, PRNGKeyArray

Binarisation: TypeAlias = Literal["none", "dynamic", "fixed"]
"""How a Bernoulli likelihood binarises its data: `"none"` (the data is binary already),
`"dynamic"` (a fresh Bernoulli draw at every training step) or `"fixed"` (one draw per
example, the same at every call)."""

BINARISATIONS: Final[tuple[str, ...]] = ("none", "dynamic", "fixed")

# The key of the fixed binarisation, and the odd multiplier (2**32 / golden ratio) that
# mixes each value's bits into the example's hash.
_FIXED_SEED: Final = 20_190_000
_MIX: Final = 0x9E3779B1


def dynamically_binarised(
    x: Float[Array, "batch *features"], key: PRNGKeyArray
) -> Float[Array, "batch *features"]:
    """Each value replaced by a Bernoulli draw with that value as its probability of 1.

    A new `key` at every step gives the dynamic binarisation of the binarised-MNIST
    literature: the model sees a new binary sample of each grey-level image at every
    step, as in the code of Burda et al. (2016, "Importance weighted autoencoders"),
    yburda/iwae `datasets.py`, `BinarizedDatasetTheano.minibatchIindex_minibatch_size`
    (`uniform(shape) <= data` for each minibatch).

    The draw is `jax.random.bernoulli`'s (a uniform number in [0, 1) at float32's
    resolution, 2**-23, below the value) from half as many Threefry-2x32 hashes: each
    hash gives two 32-bit words and both are used, where `jax.random`'s partitionable
    Threefry folds them into one. On a CPU the hashes are most of the draw's cost.
    """
    uniform = _uniform(key, x.shape)
    return (uniform < jnp.clip(x, 0.0, 1.0).astype(jnp.float32)).astype(x.dtype)


def _uniform(key: PRNGKeyArray, shape: tuple[int, ...]) -> Float[Array, "..."]:
    """Uniform float32 numbers in [0, 1), one per 32-bit word of Threefry-2x32 counter
    mode keyed by two words drawn from `key` (so any key implementation works)."""
    size = math.prod(shape)
    keypair = jax.random.bits(key, (2,), jnp.uint32)
    # `threefry_2x32` hashes count[i] with count[i + n/2]: n words from n/2 hashes.
    words = threefry_2x32(keypair, jnp.arange(size + size % 2, dtype=jnp.uint32))[:size]
    # The top 23 bits as a float32 mantissa in [1, 2), less 1: `jax.random.uniform`'s rule.
    one = jnp.uint32(0x3F800000)
    floats = jax.lax.bitcast_convert_type((words >> 9) | one, jnp.float32) - 1.0
    return floats.reshape(shape)


def fixed_binarised(x: Float[Array, "batch *features"]) -> Float[Array, "batch *features"]:
    """Each example binarised by one Bernoulli draw of its own, the same at every call.

    The draw's key is a fixed key with a hash of the example's values folded in, so an
    example is binarised the same way whatever batch it comes in and whatever its
    position: a fixed binarised test set, as the literature evaluates on, without
    storing one. Each value is 1 with the probability that it is, independently of the
    other values.
    """
    flat = x.reshape(x.shape[0], -1).astype(jnp.float32)
    bits = jax.lax.bitcast_convert_type(flat, jnp.uint32)
    positions = 2 * jnp.arange(flat.shape[1], dtype=jnp.uint32) + 1
    hashes = jnp.sum(bits * (positions * jnp.uint32(_MIX))[None], axis=1, dtype=jnp.uint32)
    base = jax.random.key(_FIXED_SEED)
    keys = jax.vmap(lambda h: jax.random.fold_in(base, h))(hashes)
    uniform = jax.vmap(lambda k: jax.random.uniform(k, x.shape[1:], dtype=x.dtype))(keys)
    return (uniform < x).astype(x.dtype)


def binarised(
    x: Float[Array, "batch *features"], binarisation: Binarisation, key: PRNGKeyArray
) -> Float[Array, "batch *features"]:
    """`x` binarised as `binarisation` says (`"none"` returns it as it is)."""
    if binarisation == "dynamic":
        return dynamically_binarised(x, key)
    if binarisation == "fixed":
        return fixed_binarised(x)
    return x
