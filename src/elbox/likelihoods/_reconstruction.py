"""Reconstruction losses: summed over every non-batch axis, averaged over the batch."""

import abc

import equinox as eqx
import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Float, jaxtyped


class AbstractReconstructionLoss(eqx.Module):
    """A reconstruction loss: `loss(x, recon_x)` is its batch mean.

    Subclasses implement `per_sample`, the loss of each sample summed over its
    non-batch axes. `recon_x` is the decoder's output: of the shape of `x` for a loss of
    one decoder value per data value, longer along the last axis for a likelihood that
    reads more (see `DecoderOutputs`).

    A loss that is the negative log of a normalised distribution, normalising constant
    known, is an `AbstractLikelihood`: the likelihood bound and the reports need that.
    A plain `AbstractReconstructionLoss` trains, but elbox reports no log-likelihood for
    it.
    """

    @abc.abstractmethod
    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        """The loss of each sample, summed over its non-batch axes."""

    @jaxtyped(typechecker=beartype)
    def __call__(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, ""]:
        """The loss averaged over the batch."""
        return jnp.mean(self.per_sample(x, recon_x))


def sum_per_sample(values: Float[Array, "batch *features"]) -> Float[Array, " batch"]:
    """`values` summed over every axis but the first."""
    return jnp.sum(values.reshape(values.shape[0], -1), axis=1)
