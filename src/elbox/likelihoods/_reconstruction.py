"""Reconstruction losses: summed over every non-batch axis, averaged over the batch."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Float, jaxtyped

from .._custom_types import LossName

# torch.nn.BCELoss bounds each log term below by -100; so do we, so that a prediction of
# exactly 0 or 1 gives a large but finite loss.
_LOG_FLOOR = -100.0


class AbstractReconstructionLoss(eqx.Module):
    """A reconstruction loss: `loss(x, recon_x)` is its batch mean.

    Subclasses implement `per_sample`, the loss of each sample summed over its
    non-batch axes.
    """

    @abc.abstractmethod
    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        """The loss of each sample, summed over its non-batch axes."""

    @jaxtyped(typechecker=beartype)
    def __call__(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, ""]:
        """The loss averaged over the batch; `x` and `recon_x` must have the same shape."""
        return jnp.mean(self.per_sample(x, recon_x))


def _sum_per_sample(values: Float[Array, "batch *features"]) -> Float[Array, " batch"]:
    return jnp.sum(values.reshape(values.shape[0], -1), axis=1)


class MSELoss(AbstractReconstructionLoss):
    """Squared error `(recon_x - x)**2`, summed per sample: for continuous data.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import MSELoss
        >>> float(MSELoss()(jnp.zeros((2, 3)), jnp.ones((2, 3))))
        3.0
    """

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return _sum_per_sample((recon_x - x) ** 2)


class MAELoss(AbstractReconstructionLoss):
    """Absolute error `|recon_x - x|`, summed per sample: for continuous data, robust to outliers.

    The negative log-likelihood of a Laplace distribution of scale 1 around `recon_x`, up
    to the constant `D log 2` for `D` features.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import MAELoss
        >>> float(MAELoss()(jnp.zeros((2, 3)), jnp.full((2, 3), -2.0)))
        6.0
    """

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return _sum_per_sample(jnp.abs(recon_x - x))


def _floored_log(p: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    # The inner `where` keeps log's gradient finite (zero) where p == 0.
    positive = p > 0
    safe = jnp.where(positive, p, 1.0)
    return jnp.where(positive, jnp.maximum(jnp.log(safe), _LOG_FLOOR), _LOG_FLOOR)


class BCELoss(AbstractReconstructionLoss):
    """Binary cross-entropy on probabilities `recon_x` in [0, 1], summed per sample.

    `-(x * log(recon_x) + (1 - x) * log(1 - recon_x))`, each log bounded below by -100 as
    in `torch.nn.BCELoss`, so a prediction of exactly 0 or 1 stays finite. Prefer
    `BCEWithLogitsLoss` on the decoder's logits: it is exact where this one saturates.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import BCELoss
        >>> round(float(BCELoss()(jnp.ones((1, 2)), jnp.full((1, 2), 0.5))), 4)
        1.3863
    """

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        log_p = _floored_log(recon_x)
        log_not_p = _floored_log(1.0 - recon_x)
        return _sum_per_sample(-(x * log_p + (1.0 - x) * log_not_p))


class BCEWithLogitsLoss(AbstractReconstructionLoss):
    """Binary cross-entropy on logits `recon_x`, computed stably, summed per sample.

    `softplus(recon_x) - x * recon_x`, the cross-entropy of `sigmoid(recon_x)` without ever
    forming the probability: finite and exact for any logit. The recommended loss for data
    in [0, 1].

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import BCEWithLogitsLoss
        >>> round(float(BCEWithLogitsLoss()(jnp.ones((1, 2)), jnp.zeros((1, 2)))), 4)
        1.3863
    """

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return _sum_per_sample(jax.nn.softplus(recon_x) - x * recon_x)


RECONSTRUCTION_LOSSES: dict[str, AbstractReconstructionLoss] = {
    "mse": MSELoss(),
    "bce": BCELoss(),
    "bce_logits": BCEWithLogitsLoss(),
    "mae": MAELoss(),
}


def reconstruction_loss(
    loss_type: LossName | AbstractReconstructionLoss,
) -> AbstractReconstructionLoss:
    """The reconstruction loss named `loss_type`: `"mse"`, `"bce"`, `"bce_logits"` or `"mae"`.

    An `AbstractReconstructionLoss` instance is returned as it is, so a custom loss can go
    wherever a name can.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    if isinstance(loss_type, AbstractReconstructionLoss):
        return loss_type
    try:
        return RECONSTRUCTION_LOSSES[loss_type]
    except (KeyError, TypeError):
        choices = ", ".join(repr(name) for name in RECONSTRUCTION_LOSSES)
        raise ValueError(
            f"unknown loss_type {loss_type!r}; expected one of {choices} "
            "or an elbox.AbstractReconstructionLoss"
        ) from None


@jaxtyped(typechecker=beartype)
def mse_loss(
    x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Squared error summed over non-batch axes, averaged over the batch (`MSELoss`)."""
    return RECONSTRUCTION_LOSSES["mse"](x, recon_x)


@jaxtyped(typechecker=beartype)
def bce_loss(
    x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Binary cross-entropy on probabilities, finite at 0 and 1 (`BCELoss`)."""
    return RECONSTRUCTION_LOSSES["bce"](x, recon_x)


@jaxtyped(typechecker=beartype)
def bce_with_logits_loss(
    x: Float[Array, "batch *features"], logits: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Binary cross-entropy on logits, numerically stable (`BCEWithLogitsLoss`)."""
    return RECONSTRUCTION_LOSSES["bce_logits"](x, logits)


@jaxtyped(typechecker=beartype)
def mae_loss(
    x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Absolute error summed over non-batch axes, averaged over the batch (`MAELoss`)."""
    return RECONSTRUCTION_LOSSES["mae"](x, recon_x)
