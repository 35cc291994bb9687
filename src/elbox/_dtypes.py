"""The floating-point type of elbox's scalars: float32, or float64 under `jax_enable_x64`."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._custom_types import StepLike


def float_dtype() -> jnp.dtype:
    """float32 unless the user enabled `jax_enable_x64`."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


def step_as_float(step: StepLike) -> Float[Array, ""]:
    """A step number as a float scalar of `float_dtype()`."""
    return jnp.asarray(step).astype(float_dtype())


HALF_DTYPES = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
"""The 16-bit floating dtypes a mixed-precision step computes in."""


def shared_half_dtype(arrays: list[Array]) -> jnp.dtype | None:
    """The 16-bit floating dtype that every floating array of `arrays` has, or None (no
    floating arrays, another dtype among them, or several)."""
    dtypes = {
        jnp.dtype(array.dtype) for array in arrays if jnp.issubdtype(array.dtype, jnp.floating)
    }
    if len(dtypes) != 1:
        return None
    (dtype,) = dtypes
    return dtype if dtype in HALF_DTYPES else None
