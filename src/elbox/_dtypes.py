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
