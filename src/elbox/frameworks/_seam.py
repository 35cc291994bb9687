"""The framework seam: the one place that decides which framework a model is from."""

import sys

import equinox as eqx

from .._custom_types import Model
from ._equinox import EQUINOX
from ._framework import AbstractFramework


def framework_of(model: Model) -> AbstractFramework:
    """The framework of `model`: Flax NNX for an `nnx.Module`, Equinox for an `eqx.Module`.

    Flax is not imported here: a model can only be an `nnx.Module` once Flax is imported,
    so the NNX adapter (which imports Flax) is loaded only when such a model arrives.

    Raises:
        TypeError: for any other kind of model.

    Example:
        >>> import jax
        >>> from elbox.frameworks._seam import framework_of
        >>> from elbox.models.equinox import MLPVAE
        >>> framework_of(MLPVAE(4, hidden=8, latent=2, key=jax.random.key(0))).name
        'equinox'
    """
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        from ._nnx import NNX

        return NNX
    if isinstance(model, eqx.Module):
        return EQUINOX
    raise TypeError(
        f"elbox trains a Flax nnx.Module or an Equinox eqx.Module; got {type(model).__name__} "
        "(a trainer takes an nnx.Module with its nnx.Optimizer, or an eqx.Module with an "
        "optax.GradientTransformation)"
    )
