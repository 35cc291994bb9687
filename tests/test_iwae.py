"""The IWAE objective: K = 1 is the ELBO, the estimators' expectations (DReG and standard
agree for every K, STL for K = 1 only), zero encoder gradients at the exact posterior, the
effective sample size, and the objective under every trainer path."""

import re
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import Array, PRNGKeyArray

from elbox import (
    AbstractReconstructionLoss,
    ConstantSchedule,
    ELBOObjective,
    GaussianLikelihood,
    IWAEObjective,
    TrainStep,
    VAETrainingConfig,
    effective_sample_size,
    likelihood_from_name,
    objective_from_name,
)
from elbox.data import batches
from elbox.likelihoods._by_name import LIKELIHOOD_NAMES
from elbox.models.equinox import MLPVAE
from elbox.training import Trainer

from .helpers import FEATURES, Framework, batch, make_model_and_optimizer, make_trainer, patterns
from .linear_gaussian import (
    LIKELIHOOD,
    LinearGaussian,
    X,
    exact_posterior_model,
    off_posterior_model,
)

# -- K = 1 is the ELBO -------------------------------------------------------------------------


@pytest.mark.parametrize("loss_type", ["mse", "bce_logits", "continuous_bernoulli", "mae"])
def test_one_sample_is_the_elbo_objective_exactly(loss_type: Any) -> None:
    model, _ = make_model_and_optimizer("equinox")
    x, key = batch(), jax.random.key(3)
    elbo = ELBOObjective(schedule=ConstantSchedule(1.0), loss_type=loss_type)
    iwae = IWAEObjective(1, loss_type=loss_type)

    def loss(objective: Any) -> Callable[[Any], Array]:
        return lambda m: objective(m, x, step=7, key=key)[0]

    (elbo_loss, elbo_metrics), elbo_grads = jax.value_and_grad(
        lambda m: elbo(m, x, step=7, key=key), has_aux=True
    )(model)
    iwae_loss, iwae_grads = jax.value_and_grad(loss(iwae))(model)
    assert float(iwae_loss) == float(elbo_loss)
    for ours, theirs in zip(jax.tree.leaves(iwae_grads), jax.tree.leaves(elbo_grads), strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    _, metrics = iwae(model, x, step=7, key=key)
    for name in ("loss", "recon_loss", "kl_loss", "kl_weight"):
        assert float(metrics[name]) == float(elbo_metrics[name])
    assert float(metrics["ess"]) == 1.0


def test_one_sample_of_an_nnx_model_is_the_elbo_of_the_code_drawn_from_the_key() -> None:
    model, _ = make_model_and_optimizer("nnx")
    x, key = batch(), jax.random.key(5)
    mean, logvar = model.encode(x)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    elbo = ELBOObjective(schedule=ConstantSchedule(1.0), loss_type="bce_logits")
    expected, _ = elbo.terms(x, model.decode(z), mean, logvar, 0)
    loss, _ = IWAEObjective(1, loss_type="bce_logits")(model, x, step=0, key=key)
    assert float(loss) == float(expected)


def test_the_bound_is_reported_with_the_likelihoods_constant() -> None:
    # mse's loss leaves out (D/2) log(pi); the metric puts it back, for every K.
    model, _ = make_model_and_optimizer("equinox")
    x, key = batch(), jax.random.key(1)
    constant = 0.5 * FEATURES * np.log(np.pi)
    for samples in (1, 6):
        loss, metrics = IWAEObjective(samples, loss_type="mse")(model, x, step=0, key=key)
        assert float(metrics["iwae_bound"]) == pytest.approx(-float(loss) - constant, rel=1e-5)
        gaussian = IWAEObjective(samples, loss_type=GaussianLikelihood(variance=0.5))
        _, exact = gaussian(model, x, step=0, key=key)
        assert float(exact["iwae_bound"]) == pytest.approx(float(metrics["iwae_bound"]), rel=1e-5)


# One likelihood of each kind: a spec loss with a constant left out, probabilities, a
# dynamic binarisation, a density of [0, 1], a learned global scale, a scale from the
# decoder, a per-feature scale, and a mixture of 8-bit data.
KINDS = [
    "mse",
    "bce",
    "bernoulli",
    "continuous_bernoulli",
    "gaussian",
    "laplace_decoder",
    "laplace_per_feature",
    "discretised_logistic_mixture",
]


def test_the_kinds_cover_the_likelihoods() -> None:
    assert set(KINDS) <= set(LIKELIHOOD_NAMES)


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_of_likelihood_trains_under_dreg(name: Any) -> None:
    likelihood = likelihood_from_name(name, logits=name != "bce")
    model = MLPVAE(
        FEATURES,
        hidden=8,
        latent=2,
        output="sigmoid" if name == "bce" else "logits",
        decoder_outputs=likelihood.decoder_outputs,
        key=jax.random.key(0),
    )
    # 8-bit values in [0, 1]: data of every likelihood here.
    x = jnp.round(batch() * 255.0) / 255.0
    train_step = TrainStep(IWAEObjective(4, gradient="dreg", loss_type=likelihood), optax.sgd(1e-3))
    state = train_step.init(model, key=jax.random.key(1))
    state, metrics = eqx.filter_jit(train_step)(state, x)
    assert float(metrics["skipped"]) == 0.0
    assert np.isfinite(float(metrics["iwae_bound"]))
    assert 1.0 <= float(metrics["ess"]) <= 4.0 + 1e-4


def test_the_bound_rises_with_k_and_the_ess_lies_between_1_and_k() -> None:
    model, _ = make_model_and_optimizer("equinox")
    x = batch(32)
    bounds = []
    for samples in (1, 10, 100):
        objective = IWAEObjective(samples, loss_type="bce_logits")
        _, metrics = eqx.filter_jit(objective)(model, x, step=0, key=jax.random.key(2))
        bounds.append(float(metrics["iwae_bound"]))
        assert 1.0 <= float(metrics["ess"]) <= samples + 1e-4
    assert bounds[0] < bounds[1] < bounds[2]


# -- a linear-Gaussian model, whose posterior is known -------------------------------------------


def _flat(tree: Any) -> Array:
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def _gradient_draws(model: LinearGaussian, objective: IWAEObjective, draws: int) -> np.ndarray:
    """The gradient of the loss on X, one row per draw: decoder (weight, bias), then
    encoder (weight, bias, logvar) components."""

    def one(key: PRNGKeyArray) -> Array:
        return _flat(jax.grad(lambda m: objective(m, X, step=0, key=key)[0])(model))

    keys = jax.random.split(jax.random.key(0), draws)
    return np.asarray(jax.jit(jax.vmap(one))(keys), np.float64)


DECODER_SIZE = 6 + 3  # weight (3, 2) and bias (3,)


def _z_scores(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The mean of paired differences (the same draws) over its standard error, which is
    floored at float32's rounding of the gradients (where two estimators share a
    component, such as the decoder's, their draws differ by rounding alone)."""
    difference = first - second
    error = difference.std(axis=0, ddof=1) / np.sqrt(len(difference))
    scores: np.ndarray = np.abs(difference.mean(axis=0)) / (error + 1e-5)
    return scores


@pytest.mark.parametrize("samples", [1, 4, 16])
def test_dreg_has_the_standard_gradients_expectation(samples: int) -> None:
    model = off_posterior_model()
    standard = _gradient_draws(model, IWAEObjective(samples, loss_type=LIKELIHOOD), 4000)
    dreg = _gradient_draws(
        model, IWAEObjective(samples, gradient="dreg", loss_type=LIKELIHOOD), 4000
    )
    assert _z_scores(dreg, standard).max() < 4.5
    # And the test can tell: the encoder's gradients are not all zero.
    assert np.abs(standard[:, DECODER_SIZE:].mean(axis=0)).max() > 0.05


def test_stl_is_unbiased_for_one_sample_and_biased_for_more() -> None:
    model = off_posterior_model()
    for samples, unbiased in ((1, True), (8, False)):
        standard = _gradient_draws(model, IWAEObjective(samples, loss_type=LIKELIHOOD), 4000)
        stl = _gradient_draws(
            model, IWAEObjective(samples, gradient="stl", loss_type=LIKELIHOOD), 4000
        )
        scores = _z_scores(stl, standard)
        if unbiased:
            assert scores.max() < 4.5
        else:  # Tucker et al. 2019, section 4: STL's encoder gradient is biased for K > 1
            assert scores[DECODER_SIZE:].max() > 10.0
            assert scores[:DECODER_SIZE].max() < 4.5  # the decoder's is the standard one


@pytest.mark.parametrize("samples", [1, 8])
def test_at_the_exact_posterior_stl_and_dregs_encoder_gradients_are_zero(samples: int) -> None:
    model = exact_posterior_model()
    for gradient in ("stl", "dreg"):
        objective = IWAEObjective(samples, gradient=gradient, loss_type=LIKELIHOOD)
        draws = _gradient_draws(model, objective, 50)
        np.testing.assert_allclose(draws[:, DECODER_SIZE:], 0.0, atol=2e-5)
    # The standard estimator's encoder gradient is zero on average only.
    standard = _gradient_draws(model, IWAEObjective(samples, loss_type=LIKELIHOOD), 50)
    assert np.abs(standard[:, DECODER_SIZE:]).max() > 1e-2


def test_dreg_matches_its_formula_draw_by_draw() -> None:
    # Tucker et al. 2019, eq. 5, written with the encoder and decoder apart: the encoder's
    # gradient sum_k w~_k**2 d log w_k / d phi (q's parameters fixed in log q), the
    # decoder's the standard one.
    model, samples, key = off_posterior_model(), 6, jax.random.key(9)
    noise = jax.random.normal(key, (X.shape[0], samples, 2))  # (batch, samples, latent)

    def log_weights(encoder: LinearGaussian, decoder: LinearGaussian, fixed: bool) -> Array:
        mean, logvar = encoder.encode(X)
        z = mean[:, None] + jnp.exp(0.5 * logvar)[:, None] * noise
        q_mean, q_logvar = jax.lax.stop_gradient((mean, logvar)) if fixed else (mean, logvar)
        log_q = -0.5 * jnp.sum(
            (z - q_mean[:, None]) ** 2 * jnp.exp(-q_logvar)[:, None] + q_logvar[:, None],
            axis=-1,
        )
        log_p_z = -0.5 * jnp.sum(z**2, axis=-1)
        recon = decoder.decode(z.reshape(-1, 2))
        repeated = jnp.repeat(X, samples, axis=0)
        log_p_x = LIKELIHOOD.log_prob(repeated, recon).reshape(-1, samples)
        return log_p_x + log_p_z - log_q

    weights = jax.nn.softmax(log_weights(model, model, False), axis=1)
    encoder_grad = jax.jit(
        jax.grad(lambda m: -jnp.mean(jnp.sum(weights**2 * log_weights(m, model, True), axis=1)))
    )(model)
    decoder_grad = jax.jit(
        jax.grad(lambda m: -jnp.mean(jax.nn.logsumexp(log_weights(model, m, False), axis=1)))
    )(model)
    objective = IWAEObjective(samples, gradient="dreg", loss_type=LIKELIHOOD)
    ours = jax.jit(jax.grad(lambda m: objective(m, X, step=0, key=key)[0]))(model)
    for name in ("encoder_weight", "encoder_bias", "encoder_logvar"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(encoder_grad, name), rtol=1e-4, atol=1e-6
        )
    for name in ("weight", "bias"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(decoder_grad, name), rtol=1e-4, atol=1e-6
        )


# -- the effective sample size -------------------------------------------------------------------


def test_the_effective_sample_size_is_kongs_formula_on_hand_worked_weights() -> None:
    # One example per row, its weights along the row.
    weights = jnp.asarray([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [1.0, 0.0, 0.0]])
    # (1 + 2 + 3)**2 / (1 + 4 + 9) = 36 / 14; equal weights: K; one weight: 1.
    np.testing.assert_allclose(
        effective_sample_size(jnp.log(weights)), [36.0 / 14.0, 3.0, 1.0], rtol=1e-6
    )
    # Far outside float32's range, computed from the logs: (1 + 1 + 2)**2 / (1 + 1 + 4).
    huge = jnp.asarray([[1000.0, 1000.0, 1000.0 + np.log(2.0)]])
    np.testing.assert_allclose(effective_sample_size(huge), [16.0 / 6.0], rtol=1e-5)


def test_the_ess_metric_is_that_of_the_batchs_weights() -> None:
    model, _ = make_model_and_optimizer("equinox")
    x, key = batch(4), jax.random.key(4)
    objective = IWAEObjective(3, loss_type="bce_logits")
    _, metrics = objective(model, x, step=0, key=key)
    mean, logvar = model.encode(x)
    noise = jax.random.normal(key, (4, 3, mean.shape[1]))  # (batch, samples, latent)
    z = mean[:, None] + jnp.exp(0.5 * logvar)[:, None] * noise
    recon = model.decode(z.reshape(12, -1)).reshape(4, 3, -1)
    log_p_x = jnp.sum(x[:, None] * recon - jax.nn.softplus(recon), axis=-1)
    log_w = np.asarray(
        log_p_x - 0.5 * jnp.sum(z**2 - noise**2 - logvar[:, None], axis=-1), np.float64
    )
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    expected = np.mean(w.sum(1) ** 2 / (w**2).sum(1))
    assert float(metrics["ess"]) == pytest.approx(expected, rel=1e-4)


# -- choosing it, and its errors -----------------------------------------------------------------


def test_the_name_builds_it_with_its_options() -> None:
    objective = objective_from_name("iwae", num_samples=50, gradient="dreg", loss_type="bce")
    assert isinstance(objective, IWAEObjective)
    assert (objective.num_samples, objective.gradient, objective.loss_type) == (50, "dreg", "bce")
    default = objective_from_name("iwae")
    assert isinstance(default, IWAEObjective)
    assert (default.num_samples, default.gradient) == (5, "standard")


class _NotALikelihood(AbstractReconstructionLoss):
    def per_sample(self, x: Array, recon_x: Array) -> Array:
        return jnp.sum(jnp.abs(x - recon_x) ** 3, axis=-1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: IWAEObjective(0), "IWAEObjective.num_samples must be >= 1; got 0"),
        (
            lambda: IWAEObjective(5, gradient="reinforce"),  # type: ignore[arg-type]  # the error is the point
            "IWAEObjective.gradient must be one of 'standard', 'dreg', 'stl'; got 'reinforce'",
        ),
        (
            lambda: IWAEObjective(5, loss_type=_NotALikelihood()),
            "IWAEObjective needs a likelihood, a normalised distribution whose log_prob",
        ),
        (
            lambda: objective_from_name("iwae", free_bits=0.5),
            "free bits apply to the 'elbo' objective only; the 'iwae' objective trains the "
            "importance-weighted bound",
        ),
        (
            lambda: objective_from_name("elbo", num_samples=5),
            "'num_samples' is an option of the 'iwae' objective, not of 'elbo'",
        ),
        (
            lambda: objective_from_name("iwae", c_max=5.0),
            "'c_max' is an option of the 'capacity' objective, not of 'iwae' (whose options "
            "are: 'num_samples', 'gradient')",
        ),
    ],
)
def test_bad_choices_are_refused_with_a_message(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_a_decoder_with_the_wrong_batch_is_refused() -> None:
    class Wrong(eqx.Module):
        def encode(self, x: Array) -> tuple[Array, Array]:
            return x[:, :2], x[:, :2]

        def decode(self, z: Array) -> Array:
            return z[:1]

    with pytest.raises(ValueError, match=re.escape("must return one output per latent code")):
        IWAEObjective(3)(Wrong(), batch(), step=0, key=jax.random.key(0))


# -- every trainer path ----------------------------------------------------------------------------


@pytest.mark.parametrize(("framework", "gradient"), [("nnx", "dreg"), ("equinox", "stl")])
def test_train_step_lowers_the_loss(framework: Framework, gradient: Any) -> None:
    model, _ = make_model_and_optimizer(framework)
    objective = IWAEObjective(8, gradient=gradient, loss_type="bce_logits")
    train_step = TrainStep(objective, optax.adam(1e-2))
    state = train_step.init(model, key=jax.random.key(1))
    step = jax.jit(train_step)
    data = patterns(32)
    losses = []
    for _ in range(40):
        state, metrics = step(state, data)
        losses.append(float(metrics["loss"]))
    assert sorted(metrics) == [
        "ess",
        "iwae_bound",
        "kl_loss",
        "kl_weight",
        "loss",
        "recon_loss",
        "skipped",
    ]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0


def test_vmap_over_seeds_equals_separate_runs_and_the_guard_skips_a_nan_batch() -> None:
    objective = IWAEObjective(4, gradient="dreg", loss_type="bce_logits")
    train_step = TrainStep(objective, optax.adam(1e-2))
    states = [
        train_step.init(make_model_and_optimizer("equinox", seed=seed)[0], key=jax.random.key(seed))
        for seed in (0, 1)
    ]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    data = patterns(16)
    nan_data = data.at[0, 0].set(jnp.nan)
    stacked, metrics = jax.jit(jax.vmap(train_step))(stacked, jnp.stack([data, nan_data]))
    np.testing.assert_array_equal(np.asarray(metrics["skipped"]), [0.0, 1.0])
    alone, alone_metrics = jax.jit(train_step)(states[0], data)
    assert float(metrics["loss"][0]) == pytest.approx(float(alone_metrics["loss"]), rel=1e-5)
    pairs = zip(jax.tree.leaves(stacked.params), jax.tree.leaves(alone.params), strict=True)
    for ours, theirs in pairs:
        np.testing.assert_allclose(np.asarray(ours[0]), np.asarray(theirs), rtol=1e-5, atol=1e-6)
    # The seed with the NaN batch kept its parameters bit for bit.
    kept = zip(jax.tree.leaves(stacked.params), jax.tree.leaves(states[1].params), strict=True)
    for ours, before in kept:
        np.testing.assert_array_equal(np.asarray(ours[1]), np.asarray(before))


def test_vae_trainer_and_fit_train_the_named_objective() -> None:
    vae = make_trainer(
        "nnx",
        VAETrainingConfig(kl_annealing="none", beta=1.0),
        objective="iwae",
        objective_options={"num_samples": 4, "gradient": "dreg"},
    )
    assert isinstance(vae.objective("bce_logits"), IWAEObjective)
    data = np.asarray(patterns(64))
    history = Trainer(vae, loss_type="bce_logits").fit(
        batches(data, 16), epochs=3, val_data=batches(data, 32, shuffle=False)
    )
    first, last = history.epochs[0], history.epochs[-1]
    for name in ("iwae_bound", "ess", "val_iwae_bound", "val_ess", "val_neg_elbo"):
        assert name in last
    assert last["val_iwae_bound"] > first["val_iwae_bound"]
    config = vae.loop_steps().config
    assert config is not None
    assert config["objective"] == "iwae"
    assert config["objective_options"] == {"num_samples": 4, "gradient": "dreg"}
    # An NNX model's code comes from the step's key: its own nnx.Rngs stay put.
    before = int(vae.model.rngs.noise.count[...])
    vae.train_step(patterns(16), loss_type="bce_logits")
    assert int(vae.model.rngs.noise.count[...]) == before
