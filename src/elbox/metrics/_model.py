"""A VAE seen through `encode` and `decode`, compiled once per shape for NNX and Equinox alike.

A model is passed to a compiled function split by the framework seam
(`framework_of(model).split(model)`): a static definition and two pytrees of arrays. The
function rebuilds the model inside the trace with `definition.merge`, so NNX's Python graph
walk runs once per compilation, and a later call with new arrays of the same shapes reuses
the compiled code.
"""

from typing import Protocol, runtime_checkable

import jax
from jaxtyping import Array

from .._custom_types import Model

ENCODE_DECODE = "`encode(x) -> (mean, logvar)` and `decode(z) -> output` methods, both on batches"


@runtime_checkable
class EncoderDecoder(Protocol):
    """A VAE that the metrics can evaluate: `encode` and `decode`, both on batches.

    `encode(x)` returns the posterior's `(mean, logvar)`, each of shape `(batch, latent)`;
    `decode(z)` returns the decoder's output for latent codes of shape `(batch, latent)`:
    the mean of a Gaussian or Laplace likelihood, Bernoulli probabilities or logits, as
    the reconstruction loss reads it. The reference models in `elbox.models` (Flax NNX
    and Equinox) have both.
    """

    def encode(self, x: Array, /) -> tuple[Array, Array]:
        """The posterior's mean and log-variance for a batch `x`."""
        ...

    def decode(self, z: Array, /) -> Array:
        """The decoder's output for a batch of latent codes `z`."""
        ...


def check_model(model: object, function: str) -> None:
    """Raise a TypeError naming both methods when `model` lacks `encode` or `decode`."""
    missing = [name for name in ("encode", "decode") if not callable(getattr(model, name, None))]
    if missing:
        lacks = " and ".join(f"`{name}`" for name in missing)
        raise TypeError(
            f"{function} needs a model with {ENCODE_DECODE}; the model "
            f"({type(model).__name__}) has no {lacks} method"
        )


def encode(model: Model, x: Array) -> tuple[Array, Array]:
    """`model.encode(x)`, checked to be two arrays of shape `(batch, latent)`."""
    out = model.encode(x)
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise TypeError(f"model.encode(x) must return (mean, logvar); got {_describe(out)}")
    mean, logvar = out
    if not (isinstance(mean, jax.Array) and isinstance(logvar, jax.Array)):
        kinds = f"({type(mean).__name__}, {type(logvar).__name__})"
        raise TypeError(f"model.encode(x) must return two arrays (mean, logvar); got {kinds}")
    if mean.ndim != 2 or mean.shape != logvar.shape or mean.shape[0] != x.shape[0]:
        raise ValueError(
            "model.encode(x) must return mean and logvar of shape (batch, latent) with the "
            f"batch of x ({x.shape[0]}); got {mean.shape} and {logvar.shape}"
        )
    return mean, logvar


def _describe(value: object) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, jax.Array):
        return f"a single array of shape {value.shape}"
    return f"a {type(value).__name__}"
