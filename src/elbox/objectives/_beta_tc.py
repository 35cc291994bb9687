"""The beta-TCVAE objective (Chen et al. 2018): beta weights the total correlation alone."""

from typing import final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import Batch, KLScheduleLike, LikelihoodName, Metrics, Model, StepLike
from .._dtypes import float_dtype
from .._validation import checked_int
from ..likelihoods._by_name import reconstruction_loss
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ._kl import kl_loss
from ._kl_decomposition import kl_decomposition
from ._likelihood_terms import observed_data, reconstruction_nll
from ._objective import AbstractObjective, encode_sample_decode


@final
class BetaTCObjective(AbstractObjective):
    """beta-TCVAE: the KL split into its three parts, and only the total correlation weighted.

    Chen et al. (2018), "Isolating Sources of Disentanglement in Variational Autoencoders",
    eq. 4 with `alpha = gamma = 1`: in expectation the loss is

        recon_loss + mutual_info + kl_weight * total_correlation + dimension_kl

    where the three parts are those of `kl_decomposition`, estimated on the batch at the
    latent codes drawn for it, and `kl_weight = schedule(step)`: the KL schedule (beta
    times its annealing) weights the total correlation instead of the whole KL. As in
    disentanglement_lib's `BetaTCVAE.regularizer` (`methods/unsupervised/vae.py`), the
    loss is computed as

        loss = recon_loss + kl_loss + (kl_weight - 1) * total_correlation

    with the analytic `kl_loss` in place of the sampled `mutual_info + total_correlation +
    dimension_kl`: the same in expectation, with less noise. With a weight of 1 it is
    the plain negative ELBO.

    The model is run in parts (see `encode_sample_decode`): `model.encode(x)`, a code drawn
    with the step's `key`, `model.decode(z)`; the reconstruction and the estimate use the
    same code. Free bits do not apply.

    The metrics are `loss`, `recon_loss`, `kl_loss` (analytic, as in `ELBOObjective`),
    `kl_weight` (the weight of the total correlation), `mutual_info`,
    `total_correlation` and `dimension_kl`. The three parts sum to the sampled KL of the
    batch, which matches `kl_loss` in expectation, not on every batch.

    Where this differs from disentanglement_lib's `total_correlation`: its estimate drops
    the `log(N * M)` of Chen et al.'s minibatch-weighted sampling, shifting the total
    correlation by a constant; this one keeps it, with `N = dataset_size` (by default 1:
    the batch's own aggregate posterior, whose total correlation is near 0 for codes that
    are independent across dimensions). The constant changes no gradient (see
    `kl_decomposition`).

    Attributes:
        schedule: maps the step to the weight of the total correlation, beta included (an
            elbox schedule or any optax schedule); `ConstantSchedule(beta)` for no annealing.
        loss_type: the reconstruction loss or likelihood, by name or as an instance.
        dataset_size: `N` of the `log(N * M)` correction, or None for the batch alone.
        report_neg_elbo: add the metric `neg_elbo`, `-log p(x|z)` (normalising constant
            included) plus the analytic KL.

    Raises:
        ValueError: for a `dataset_size` below 1.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from elbox import BetaTCObjective, ConstantSchedule
        >>> from elbox.models.equinox import MLPVAE
        >>> objective = BetaTCObjective(schedule=ConstantSchedule(6.0))
        >>> model = MLPVAE(4, hidden=8, latent=2, key=jax.random.key(0))
        >>> x = jnp.zeros((8, 4))
        >>> loss, metrics = objective(model, x, step=0, key=jax.random.key(1))
        >>> sorted(metrics)
        ['dimension_kl', 'kl_loss', 'kl_weight', 'loss', 'mutual_info', 'recon_loss',
         'total_correlation']
    """

    schedule: KLScheduleLike
    loss_type: LikelihoodName | AbstractReconstructionLoss
    dataset_size: int | None = eqx.field(static=True)
    report_neg_elbo: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        schedule: KLScheduleLike,
        loss_type: LikelihoodName | AbstractReconstructionLoss = "mse",
        dataset_size: int | None = None,
        report_neg_elbo: bool = False,
    ) -> None:
        self.schedule = schedule
        self.loss_type = loss_type
        self.dataset_size = (
            None
            if dataset_size is None
            else checked_int("BetaTCObjective", "dataset_size", dataset_size, 1)
        )
        self.report_neg_elbo = report_neg_elbo

    def __call__(
        self, model: Model, batch: Batch, *, step: StepLike, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `model` on `batch` at `step`, its code drawn from `key`."""
        observed = observed_data(self.loss_type, batch, key)
        x, recon_x, mean, logvar, z = encode_sample_decode(model, observed, key=key)
        return self.terms(x, recon_x, mean, logvar, z, step)

    def terms(
        self,
        x: Float[Array, "batch *features"],
        recon_x: Float[Array, "batch *outputs"],
        mean: Float[Array, "batch latent"],
        logvar: Float[Array, "batch latent"],
        z: Float[Array, "batch latent"],
        step: StepLike,
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` at `step` for one batch of model outputs and the drawn codes."""
        recon = reconstruction_loss(self.loss_type)(x, recon_x)
        kl, _ = kl_loss(mean, logvar)
        parts = kl_decomposition(z, mean, logvar, dataset_size=self.dataset_size)
        weight = jnp.asarray(self.schedule(step), dtype=float_dtype())
        loss = recon + kl + (weight - 1.0) * parts.total_correlation
        metrics = {
            "loss": loss,
            "recon_loss": recon,
            "kl_loss": kl,
            "kl_weight": weight,
            "mutual_info": parts.mutual_info,
            "total_correlation": parts.total_correlation,
            "dimension_kl": parts.dimension_kl,
        }
        if self.report_neg_elbo:
            metrics["neg_elbo"] = reconstruction_nll(self.loss_type, x, recon_x, recon) + kl
        return loss, metrics
