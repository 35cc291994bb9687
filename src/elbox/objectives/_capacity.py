"""Capacity annealing (Burgess et al. 2018): the KL held near a target that rises with the step."""

from typing import final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import Batch, LikelihoodName, Metrics, Model, RealNumber, StepLike
from .._dtypes import float_dtype, step_as_float
from .._validation import checked_int, checked_non_negative_float
from ..likelihoods._by_name import reconstruction_loss
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ._kl import kl_loss
from ._likelihood_terms import observed_data, reconstruction_nll
from ._objective import AbstractObjective, call_vae

_OWNER = "CapacityObjective"

# disentanglement_lib's `unsupervised_study_v1` values: gamma and the ramp's length fixed,
# c_max the middle of the six it sweeps.
DEFAULT_C_MAX = 25.0
DEFAULT_CAPACITY_STEPS = 100_000
DEFAULT_GAMMA = 1000.0


@final
class CapacityObjective(AbstractObjective):
    """Capacity annealing: `loss = recon_loss + gamma * |kl_loss - C(step)|`.

    Burgess et al. (2018), "Understanding disentangling in beta-VAE", eq. 8: instead of
    weighting the KL, hold it near a target capacity `C` (in nats) that rises linearly from
    0 to `c_max` over `capacity_steps` steps and then stays there,
    `C(step) = min(c_max, c_max * step / capacity_steps)`. A strong `gamma` pins the KL to
    `C` from both sides, so the latent code is let to carry information a little at a time.
    This is disentanglement_lib's `AnnealedVAE` (`methods/unsupervised/vae.py`, with its
    `anneal` function; `capacity_steps` is its `iteration_threshold`).

    `kl_loss` is the analytic KL summed over the latent dimensions and averaged over the
    batch, as in `ELBOObjective` but without free bits (the capacity is the control). No KL
    schedule applies: `C(step)` is the annealing and `gamma` the weight. The metrics are
    `loss`, `recon_loss`, `kl_loss`, `kl_weight` (`gamma`, the weight of `|kl_loss -
    capacity|`) and `capacity` (the current `C`).

    Attributes:
        c_max: the capacity reached, in nats. `AnnealedVAE` has no default (it is
            required); 25 is the middle of the values disentanglement_lib's study sweeps
            (5, 10, 25, 50, 75 and 100 nats, `config/unsupervised_study_v1/sweep.py`).
        capacity_steps: the steps `C` takes to reach `c_max` (disentanglement_lib: 100000).
        gamma: the weight of `|kl_loss - C|` (disentanglement_lib: 1000).
        loss_type: the reconstruction loss or likelihood, by name or as an instance.
        report_neg_elbo: add the metric `neg_elbo`, `-log p(x|z)` (normalising constant
            included) plus the KL: the unannealed negative ELBO, comparable across runs
            and objectives.

    Raises:
        ValueError: for a negative `c_max` or `gamma`, or `capacity_steps < 1`; the
            message names the field.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from elbox import CapacityObjective
        >>> from elbox.models.equinox import MLPVAE
        >>> objective = CapacityObjective(c_max=20.0, capacity_steps=1000)
        >>> [float(objective.capacity(step)) for step in (0, 250, 1000, 5000)]
        [0.0, 5.0, 20.0, 20.0]
        >>> model = MLPVAE(4, hidden=8, latent=2, key=jax.random.key(0))
        >>> x = jnp.zeros((3, 4))
        >>> loss, metrics = objective(model, x, step=500, key=jax.random.key(1))
        >>> sorted(metrics)
        ['capacity', 'kl_loss', 'kl_weight', 'loss', 'recon_loss']
    """

    c_max: float = eqx.field(static=True)
    capacity_steps: int = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    loss_type: LikelihoodName | AbstractReconstructionLoss
    report_neg_elbo: bool = eqx.field(static=True)

    def __init__(
        self,
        *,
        # Literal defaults, so that the API reference shows their values; a test checks
        # them against the DEFAULT_* constants above.
        c_max: RealNumber = 25.0,
        capacity_steps: int = 100_000,
        gamma: RealNumber = 1000.0,
        loss_type: LikelihoodName | AbstractReconstructionLoss = "mse",
        report_neg_elbo: bool = False,
    ) -> None:
        self.c_max = checked_non_negative_float(_OWNER, "c_max", c_max)
        self.capacity_steps = checked_int(_OWNER, "capacity_steps", capacity_steps, 1)
        self.gamma = checked_non_negative_float(_OWNER, "gamma", gamma)
        self.loss_type = loss_type
        self.report_neg_elbo = report_neg_elbo

    def capacity(self, step: StepLike) -> Float[Array, ""]:
        """The target KL at `step`: `min(c_max, c_max * step / capacity_steps)`, in nats."""
        rising = self.c_max * step_as_float(step) / self.capacity_steps
        return jnp.minimum(jnp.asarray(self.c_max, float_dtype()), rising)

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
        recon = reconstruction_loss(self.loss_type)(x, recon_x)
        kl, _ = kl_loss(mean, logvar)
        capacity = self.capacity(step)
        gamma = jnp.asarray(self.gamma, float_dtype())
        loss = recon + gamma * jnp.abs(kl - capacity)
        metrics = {
            "loss": loss,
            "recon_loss": recon,
            "kl_loss": kl,
            "kl_weight": gamma,
            "capacity": capacity,
        }
        if self.report_neg_elbo:
            metrics["neg_elbo"] = reconstruction_nll(self.loss_type, x, recon_x, recon) + kl
        return loss, metrics
