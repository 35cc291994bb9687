"""What an objective takes from its likelihood besides the loss: the data as the model
sees it (binarised, for a binarising Bernoulli), and the normalised reconstruction term."""

from typing import Final

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._batch import batch_data
from .._custom_types import Batch, LikelihoodName
from ..likelihoods._by_name import reconstruction_loss
from ..likelihoods._likelihood import AbstractLikelihood
from ..likelihoods._reconstruction import AbstractReconstructionLoss

# Folded into the step's key for the likelihood's draws (a dynamic binarisation), so that
# they are independent of the model's noise, which the step's key itself draws.
_OBSERVATION_STREAM: Final = 1


def observed_data(
    loss_type: LikelihoodName | AbstractReconstructionLoss, batch: Batch, key: PRNGKeyArray
) -> Array:
    """The batch's data as the model and the likelihood see it: `likelihood.observe(x)`
    (a Bernoulli likelihood's binarisation), or the data itself for a reconstruction
    loss that is not a likelihood."""
    x = jnp.asarray(batch_data(batch))
    loss = reconstruction_loss(loss_type)
    if isinstance(loss, AbstractLikelihood):
        return loss.observe(x, key=jax.random.fold_in(key, _OBSERVATION_STREAM))
    return x


def reconstruction_nll(
    loss_type: LikelihoodName | AbstractReconstructionLoss,
    x: Float[Array, "batch *features"],
    recon_x: Float[Array, "batch *outputs"],
    recon_loss: Float[Array, ""],
) -> Float[Array, ""]:
    """`-log p(x | z)` averaged over the batch, normalising constant included (for the
    spec's `mse` and `mae`, whose losses leave it out); `recon_loss` itself for a loss
    that is not a likelihood."""
    loss = reconstruction_loss(loss_type)
    if isinstance(loss, AbstractLikelihood):
        return -jnp.mean(loss.log_prob(x, recon_x))
    return recon_loss


def for_evaluation(
    loss_type: LikelihoodName | AbstractReconstructionLoss,
) -> AbstractReconstructionLoss:
    """The loss that evaluation uses: the likelihood's `for_evaluation()` (a dynamic
    binarisation made fixed), or the loss itself."""
    loss = reconstruction_loss(loss_type)
    return loss.for_evaluation() if isinstance(loss, AbstractLikelihood) else loss


def loss_name(loss_type: LikelihoodName | AbstractReconstructionLoss) -> str:
    """A loss in words, for records: its name, or what the likelihood describes."""
    if isinstance(loss_type, str):
        return loss_type
    if isinstance(loss_type, AbstractLikelihood):
        return loss_type.describe()
    return type(loss_type).__name__
