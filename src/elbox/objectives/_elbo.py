"""The annealed ELBO objective: reconstruction loss plus weighted KL, and its metrics."""

import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Float, PRNGKeyArray, jaxtyped

from .._custom_types import (
    Batch,
    FreeBitsMode,
    KLScheduleLike,
    LikelihoodName,
    Metrics,
    Model,
    RealNumber,
    ScalarLike,
    StepLike,
)
from .._dtypes import float_dtype
from ..likelihoods._by_name import reconstruction_loss
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ._kl import kl_loss
from ._likelihood_terms import observed_data, reconstruction_nll
from ._objective import AbstractObjective, call_vae


@jaxtyped(typechecker=beartype)
def elbo_terms(
    x: Float[Array, "batch *features"],
    recon_x: Float[Array, "batch *outputs"],
    mean: Float[Array, "batch latent"],
    logvar: Float[Array, "batch latent"],
    *,
    kl_weight: ScalarLike,
    loss_type: LikelihoodName | AbstractReconstructionLoss = "mse",
    free_bits: RealNumber = 0.0,
    free_bits_mode: FreeBitsMode = "per_sample",
) -> tuple[Float[Array, ""], Metrics]:
    """The annealed negative ELBO and its parts: `(loss, metrics)`.

    `loss = recon_loss + kl_weight * kl_loss`, where `kl_loss` is the unweighted KL (after
    free bits) and `kl_weight` already includes beta. The metrics are `loss`, `recon_loss`,
    `kl_loss` and `kl_weight`, each a scalar array.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import elbo_terms
        >>> x = jnp.ones((2, 4))
        >>> loss, metrics = elbo_terms(
        ...     x, 0.5 * x, jnp.ones((2, 3)), jnp.zeros((2, 3)), kl_weight=0.5
        ... )
        >>> {name: float(value) for name, value in metrics.items()}
        {'loss': 1.75, 'recon_loss': 1.0, 'kl_loss': 1.5, 'kl_weight': 0.5}
    """
    recon = reconstruction_loss(loss_type)(x, recon_x)
    kl, _ = kl_loss(mean, logvar, free_bits=free_bits, free_bits_mode=free_bits_mode)
    weight = jnp.asarray(kl_weight, dtype=float_dtype())
    loss = recon + weight * kl
    return loss, {"loss": loss, "recon_loss": recon, "kl_loss": kl, "kl_weight": weight}


class ELBOObjective(AbstractObjective):
    """The annealed negative ELBO: `elbo_terms` with the KL weight taken from a schedule.

    Called on a model and a batch (as `TrainStep` does), it runs the model (see
    `call_vae`) and returns `terms(x, recon_x, mean, logvar, step)`.

    Attributes:
        schedule: maps the step to the KL weight (an elbox schedule or any optax schedule).
        loss_type: the reconstruction loss or likelihood, by name or as an instance. A
            binarising `BernoulliLikelihood` binarises the batch before the model sees
            it (`AbstractLikelihood.observe`), with a key folded from the step's.
        free_bits: the free-bits threshold in nats per latent dimension.
        free_bits_mode: `"per_sample"` or `"batch"` (see `kl_loss`).
        report_neg_elbo: add the metric `neg_elbo`, `-log p(x|z)` (with the likelihood's
            normalising constant, which the losses of `mse` and `mae` leave out) plus the
            KL with weight 1 and no free bits: the unannealed negative ELBO, comparable
            across runs and likelihoods.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from elbox import ELBOObjective, LinearWarmup
        >>> from elbox.models.equinox import MLPVAE
        >>> objective = ELBOObjective(schedule=LinearWarmup(beta=1.0, warmup_steps=10))
        >>> model = MLPVAE(4, hidden=8, latent=2, key=jax.random.key(0))
        >>> x = jnp.zeros((3, 4))
        >>> loss, metrics = objective(model, x, step=5, key=jax.random.key(1))
        >>> float(metrics["kl_weight"])
        0.5
    """

    schedule: KLScheduleLike
    loss_type: LikelihoodName | AbstractReconstructionLoss = "mse"
    free_bits: float = 0.0
    free_bits_mode: FreeBitsMode = "per_sample"
    report_neg_elbo: bool = False

    def __call__(
        self, model: Model, batch: Batch, *, step: StepLike, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `model` on `batch` at `step`, its noise drawn from `key`."""
        observed = observed_data(self.loss_type, batch, key)
        x, recon_x, mean, logvar = call_vae(model, observed, key=key)
        return self.terms(x, recon_x, mean, logvar, step)

    def terms(
        self,
        x: Float[Array, "batch *features"],
        recon_x: Float[Array, "batch *outputs"],
        mean: Float[Array, "batch latent"],
        logvar: Float[Array, "batch latent"],
        step: StepLike,
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` at `step` for one batch of model outputs."""
        loss, metrics = elbo_terms(
            x,
            recon_x,
            mean,
            logvar,
            kl_weight=self.schedule(step),
            loss_type=self.loss_type,
            free_bits=self.free_bits,
            free_bits_mode=self.free_bits_mode,
        )
        if self.report_neg_elbo:
            unclamped_kl, _ = kl_loss(mean, logvar)
            nll = reconstruction_nll(self.loss_type, x, recon_x, metrics["recon_loss"])
            metrics["neg_elbo"] = nll + unclamped_kl
        return loss, metrics
