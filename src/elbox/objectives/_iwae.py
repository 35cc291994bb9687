"""The importance-weighted bound as a training objective (Burda et al. 2016), with the
standard, doubly reparameterised (DReG) and sticking-the-landing (STL) gradients."""

from collections.abc import Callable
from typing import Final, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import (
    Batch,
    IWAEGradient,
    LikelihoodName,
    Metrics,
    Model,
    StepLike,
)
from .._dtypes import float_dtype
from .._validation import checked_choice, checked_int
from ..likelihoods._by_name import likelihood_of
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ._elbo import elbo_terms
from ._importance_weights import effective_sample_size, weights_gate
from ._kl import kl_loss
from ._likelihood_terms import observed_data
from ._objective import (
    AbstractObjective,
    decode_codes,
    encode_posterior,
    require_encode_decode,
)

IWAE_GRADIENTS: Final[tuple[IWAEGradient, ...]] = ("standard", "dreg", "stl")
DEFAULT_NUM_SAMPLES: Final = 5
_OWNER = "IWAEObjective"


@final
class IWAEObjective(AbstractObjective):
    r"""The K-sample importance-weighted bound as the loss: `loss = -L_K`.

    Burda, Grosse and Salakhutdinov (2016), "Importance weighted autoencoders", eq. 8:
    with K codes `z_k = mean + exp(logvar / 2) * eps_k` drawn from q(z|x),

        L_K(x) = log (1/K) sum_k w_k,   w_k = p(x|z_k) p(z_k) / q(z_k|x)

    a lower bound of log p(x) that rises with K. The K codes of a batch are decoded in
    one call, `model.decode` on `batch * K` codes; the model is run in parts
    (`model.encode(x) -> (mean, logvar)`, then `model.decode(z)`), its noise drawn from
    the step's key, for Flax NNX and Equinox models alike.

    `gradient` chooses the estimator of the bound's gradient; the loss's value is the
    same for all three:

    - `"standard"`: the reparameterised gradient of `L_K`. Rainforth et al. (2018,
      "Tighter variational bounds are not necessarily better") show that the encoder's
      gradient signal-to-noise ratio falls like `1/sqrt(K)` with it.
    - `"dreg"`: the doubly reparameterised gradient (Tucker, Lawson, Gu and Maddison
      2019, "Doubly reparameterized gradient estimators for Monte Carlo objectives",
      eq. 5): the encoder's gradient is `sum_k w~_k**2 d log w_k / d z_k  dz_k / dphi`,
      with q's parameters held fixed inside `log w_k` and `w~_k = w_k / sum_j w_j`; the
      decoder's is the standard one. Unbiased for every K, and its encoder SNR does not
      fall with K.
    - `"stl"`: sticking the landing (Roeder, Wu and Duvenaud 2017): the standard
      gradient with q's parameters held fixed inside `log q(z_k|x)`, which drops the
      score term. Unbiased for K = 1 only; for K > 1 it is biased (Tucker et al. 2019,
      section 4), so use `"dreg"` there.

    With q(z|x) the exact posterior, `w_k = p(x)` for every code, so the STL and DReG
    encoder gradients are zero on every draw, not only on average.

    With K = 1 and the standard gradient the KL is the analytic one, as
    `ELBOObjective`'s is (the same in expectation as the sampled `log q - log p`, with
    less noise): `IWAEObjective(num_samples=1)` is `ELBOObjective` at beta 1 with no
    annealing, the same loss on the same draw.

    The loss is written with the likelihood's training loss (`per_sample`) in place of
    `-log p(x|z)`: for the spec's `mse` and `mae`, which leave out a normalising
    constant, the loss is `-L_K` plus that constant, as `ELBOObjective`'s is; the metric
    `iwae_bound` has it back. The metrics (each averaged over the batch):

    - `loss`: the minimised loss;
    - `iwae_bound`: `L_K` in nats, normalising constant included (a bound of log p(x)
      where the likelihood is normalised for the data, `normalised_for`);
    - `ess`: the effective sample size of the importance weights, from 1 to K (see
      `effective_sample_size`); a value near 1 means one code carries the bound;
    - `recon_loss` and `kl_loss`: the reconstruction loss of the first code and the
      analytic KL, as `ELBOObjective` reports them; `kl_weight`: 1 (no KL schedule or
      free bits apply);
    - `neg_elbo` with `report_neg_elbo`: `-log p(x|z_1)` plus the analytic KL.

    Attributes:
        num_samples: K, the importance samples per example (at least 1).
        gradient: `"standard"`, `"dreg"` or `"stl"`.
        loss_type: the likelihood, by name or as an `AbstractLikelihood` (a plain
            reconstruction loss is refused: the weights need a density).
        report_neg_elbo: add the metric `neg_elbo`.

    Raises:
        ValueError: for `num_samples < 1`, an unknown `gradient` or a loss that is not a
            likelihood; the message names the field.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from elbox import IWAEObjective
        >>> from elbox.models.equinox import MLPVAE
        >>> objective = IWAEObjective(num_samples=8, gradient="dreg",
        ...                           loss_type="continuous_bernoulli")
        >>> model = MLPVAE(4, hidden=8, latent=2, key=jax.random.key(0))
        >>> x = jnp.full((3, 4), 0.5)
        >>> loss, metrics = objective(model, x, step=0, key=jax.random.key(1))
        >>> sorted(metrics)
        ['ess', 'iwae_bound', 'kl_loss', 'kl_weight', 'loss', 'recon_loss']
        >>> bool(1.0 <= metrics["ess"] <= 8.0)
        True
    """

    num_samples: int = eqx.field(static=True)
    gradient: IWAEGradient = eqx.field(static=True)
    loss_type: LikelihoodName | AbstractReconstructionLoss
    report_neg_elbo: bool = eqx.field(static=True)

    def __init__(
        self,
        num_samples: int = 5,
        *,
        gradient: IWAEGradient = "standard",
        loss_type: LikelihoodName | AbstractReconstructionLoss = "mse",
        report_neg_elbo: bool = False,
    ) -> None:
        self.num_samples = checked_int(_OWNER, "num_samples", num_samples, 1)
        self.gradient = cast(
            IWAEGradient, checked_choice(_OWNER, "gradient", gradient, IWAE_GRADIENTS)
        )
        likelihood_of(loss_type, _OWNER)  # the weights need a density
        self.loss_type = loss_type
        self.report_neg_elbo = report_neg_elbo

    def __call__(
        self, model: Model, batch: Batch, *, step: StepLike, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `model` on `batch`, its K codes drawn from `key`."""
        del step  # no schedule
        require_encode_decode(model, _OWNER)
        x, mean, logvar = encode_posterior(model, observed_data(self.loss_type, batch, key))
        batch_size, latent = mean.shape
        noise = jax.random.normal(key, (batch_size, self.num_samples, latent), dtype=mean.dtype)
        return self.terms(lambda z: decode_codes(model, z), x, mean, logvar, noise)

    def terms(
        self,
        decode: Callable[[Array], Array],
        x: Float[Array, "batch *features"],
        mean: Float[Array, "batch latent"],
        logvar: Float[Array, "batch latent"],
        noise: Float[Array, "batch samples latent"],
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` for the codes `mean + exp(logvar / 2) * noise[:, k]`, decoded
        by `decode` (one call on all `batch * K` codes, each example's K codes together,
        so that a batch sharded over devices stays where it is)."""
        likelihood = likelihood_of(self.loss_type, _OWNER)
        batch, samples, latent = noise.shape
        z = mean[:, None] + jnp.exp(0.5 * logvar)[:, None] * noise
        if self.gradient == "standard" and samples == 1:
            return self._elbo(decode, x, mean, logvar, z[:, 0])
        tap = jnp.zeros((batch, samples), z.dtype)
        if self.gradient == "dreg":
            z, tap = weights_gate(z)
        codes = batch * samples
        recon_x = _decoded(decode, z.reshape(codes, latent), codes)
        repeated = jnp.broadcast_to(x[:, None], (batch, samples, *x.shape[1:]))
        recon_per_code = likelihood.per_sample(
            repeated.reshape(codes, *x.shape[1:]), recon_x
        ).reshape(batch, samples)
        if self.gradient == "standard":
            # log q(z|x) - log p(z); (z - mean)**2 / var is noise**2, and the 2 pi cancel.
            squared = noise**2
            log_det = jnp.sum(logvar, axis=-1)
        else:
            # q's parameters held fixed: only the path through z carries a gradient.
            fixed_mean = jax.lax.stop_gradient(mean)
            fixed_logvar = jax.lax.stop_gradient(logvar)
            squared = (z - fixed_mean[:, None]) ** 2 * jnp.exp(-fixed_logvar)[:, None]
            log_det = jnp.sum(fixed_logvar, axis=-1)
        log_q_over_p = 0.5 * jnp.sum(z**2 - squared, axis=-1) - 0.5 * log_det[:, None]
        log_w = -recon_per_code - log_q_over_p + tap
        log_k = jnp.log(jnp.asarray(samples, dtype=log_w.dtype))
        shifted_bound = jax.nn.logsumexp(log_w, axis=-1) - log_k
        loss = -jnp.mean(shifted_bound)
        first = recon_x.reshape(batch, samples, *recon_x.shape[1:])[:, 0]
        kl, _ = kl_loss(mean, logvar)
        # The likelihood's constant that its training loss leaves out (0 for most).
        constant = jax.lax.stop_gradient(recon_per_code[:, 0] + likelihood.log_prob(x, first))
        metrics = {
            "loss": loss,
            "recon_loss": jnp.mean(recon_per_code[:, 0]),
            "kl_loss": kl,
            "kl_weight": jnp.asarray(1.0, float_dtype()),
            "iwae_bound": jnp.mean(shifted_bound + constant),
            "ess": jnp.mean(effective_sample_size(jax.lax.stop_gradient(log_w))),
        }
        if self.report_neg_elbo:
            metrics["neg_elbo"] = -jnp.mean(likelihood.log_prob(x, first)) + kl
        return loss, metrics

    def _elbo(
        self,
        decode: Callable[[Array], Array],
        x: Float[Array, "batch *features"],
        mean: Float[Array, "batch latent"],
        logvar: Float[Array, "batch latent"],
        z: Float[Array, "batch latent"],
    ) -> tuple[Float[Array, ""], Metrics]:
        """K = 1, standard gradient: the ELBO with the analytic KL, as `ELBOObjective`."""
        likelihood = likelihood_of(self.loss_type, _OWNER)
        recon_x = _decoded(decode, z, z.shape[0])
        loss, metrics = elbo_terms(
            x, recon_x, mean, logvar, kl_weight=1.0, loss_type=self.loss_type
        )
        log_p = likelihood.log_prob(x, recon_x)
        _, kl_per_example = kl_loss(mean, logvar)
        metrics["iwae_bound"] = jnp.mean(log_p - kl_per_example)
        metrics["ess"] = jnp.asarray(1.0, float_dtype())
        if self.report_neg_elbo:
            metrics["neg_elbo"] = -metrics["iwae_bound"]
        return loss, metrics


def _decoded(decode: Callable[[Array], Array], z: Array, codes: int) -> Array:
    """`decode(z)`, checked to give one output per code."""
    recon_x = decode(z)
    if not isinstance(recon_x, jax.Array) or recon_x.ndim < 2 or recon_x.shape[0] != codes:
        shape = getattr(recon_x, "shape", type(recon_x).__name__)
        raise ValueError(
            f"{_OWNER}: model.decode(z) must return one output per latent code, of shape "
            f"({codes}, ...) for {codes} codes; got {shape}"
        )
    return recon_x
