"""The likelihoods are normalised distributions: densities integrate to 1 and probabilities
sum to 1 (float64), log-densities match scipy or an independent float64 implementation,
and the spec's four loss names give exactly the losses they always gave."""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import pytest
from scipy import integrate, special, stats  # type: ignore[import-untyped]  # no hints

from elbox import (
    AbstractLikelihood,
    AbstractReconstructionLoss,
    BCELoss,
    BCEWithLogitsLoss,
    BernoulliLikelihood,
    ContinuousBernoulliLikelihood,
    DecoderOutputs,
    DiscretisedLogisticLikelihood,
    DiscretisedLogisticMixtureLikelihood,
    ELBOObjective,
    GaussianLikelihood,
    LaplaceLikelihood,
    MAELoss,
    MSELoss,
    bits_per_dimension,
    elbo_terms,
    likelihood_from_name,
    reconstruction_loss,
)
from elbox.likelihoods._by_name import LIKELIHOOD_NAMES
from elbox.metrics import log_likelihood
from elbox.models.equinox import MLPVAE

F64 = npt.NDArray[np.float64]


def _log_prob_at(likelihood: AbstractLikelihood, parameters: list[float]) -> Callable[[Any], Any]:
    """log p(x) of one value `x` as a float64 function, for quadrature: the decoder's
    output holds `parameters` (one per block)."""
    output = jnp.asarray([parameters], jnp.float64)

    @jax.jit
    def log_p(x: jax.Array) -> jax.Array:
        return likelihood.log_prob(jnp.reshape(x, (1, 1)), output)[0]

    return lambda x: float(log_p(jnp.asarray(x, jnp.float64)))


def _integral(
    log_p: Callable[[float], float], low: float, high: float, points: list[float]
) -> float:
    total, error = integrate.quad(
        lambda x: math.exp(log_p(x)), low, high, points=points or None, limit=200
    )
    assert error < 1e-8
    return float(total)


# -- densities integrate to 1 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("likelihood", "parameters"),
    [
        # The continuous Bernoulli on [0, 1], logits across the Taylor cut and lambda = 1/2.
        *[
            (ContinuousBernoulliLikelihood(), [eta])
            for eta in (-30.0, -3.0, -0.19, 0.0, 0.05, 0.21, 8.0)
        ],
        *[(ContinuousBernoulliLikelihood(logits=False), [p]) for p in (1e-6, 0.2, 0.5, 0.999)],
    ],
)
def test_the_continuous_bernoulli_integrates_to_one(
    likelihood: AbstractLikelihood, parameters: list[float]
) -> None:
    with jax.enable_x64(True):
        log_p = _log_prob_at(likelihood, parameters)
        assert _integral(log_p, 0.0, 1.0, []) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("likelihood", "parameters"),
    [
        (MSELoss(), [0.3]),
        (MAELoss(), [-1.2]),
        (GaussianLikelihood(variance=0.04), [0.7]),
        (GaussianLikelihood(variance=3.0), [-2.0]),
        (GaussianLikelihood(variance="global"), [0.5, -1.5]),
        (GaussianLikelihood(variance="decoder"), [0.5, 0.8]),
        (LaplaceLikelihood(scale=0.1), [0.2]),
        (LaplaceLikelihood(scale="per_feature"), [1.0, 0.4]),
    ],
)
def test_real_densities_integrate_to_one(
    likelihood: AbstractLikelihood, parameters: list[float]
) -> None:
    location = parameters[0]
    with jax.enable_x64(True):
        log_p = _log_prob_at(likelihood, parameters)
        # Wide enough that the tails beyond hold less than 1e-12 for every case above.
        total = _integral(log_p, location - 60.0, location + 60.0, [location])
    assert total == pytest.approx(1.0, abs=1e-9)


# -- probabilities sum to 1 -----------------------------------------------------------------

LEVELS = np.arange(256.0) / 255.0


def _total_mass(likelihood: AbstractLikelihood, parameters: F64) -> float:
    """The sum of p(x) over the 256 levels, each level one example."""
    x = jnp.asarray(LEVELS[:, None])
    output = jnp.asarray(np.tile(parameters, (256, 1)))
    return float(jnp.sum(jnp.exp(likelihood.log_prob(x, output))))


@pytest.mark.parametrize(
    ("likelihood", "parameters"),
    [
        (DiscretisedLogisticLikelihood(scale=0.02), [0.5]),
        (DiscretisedLogisticLikelihood(scale=1e-4), [0.3]),  # all mass in one bin
        (DiscretisedLogisticLikelihood(scale=50.0), [0.5]),  # nearly uniform
        (DiscretisedLogisticLikelihood(), [0.0, -3.0]),  # at the edge bin
        (DiscretisedLogisticLikelihood(), [1.7, -1.0]),  # beyond the data's range
        (DiscretisedLogisticLikelihood(scale="global"), [0.9, -9.0]),  # at the floor
        (DiscretisedLogisticMixtureLikelihood(components=3), None),
    ],
)
def test_discretised_logistics_sum_to_one_over_256_bins(
    likelihood: AbstractLikelihood, parameters: list[float] | None
) -> None:
    if parameters is None:  # mixture: logits, locations, log-scales
        parameters = [0.3, -1.0, 2.0, 0.1, 0.5, 0.95, -4.0, -2.0, -6.5]
    with jax.enable_x64(True):
        assert _total_mass(likelihood, np.asarray(parameters)) == pytest.approx(1.0, abs=1e-12)
    assert _total_mass(likelihood, np.asarray(parameters, np.float32)) == pytest.approx(
        1.0, abs=2e-5
    )


@pytest.mark.parametrize(
    ("likelihood", "parameter"),
    [
        (BernoulliLikelihood(), 1.3),
        (BernoulliLikelihood(logits=False), 0.2),
        (BCEWithLogitsLoss(), -40.0),
        (BCELoss(), 0.75),
    ],
)
def test_bernoullis_sum_to_one_over_0_and_1(
    likelihood: AbstractLikelihood, parameter: float
) -> None:
    with jax.enable_x64(True):
        x = jnp.asarray([[0.0], [1.0]])
        log_p = likelihood.log_prob(x, jnp.full((2, 1), parameter))
        assert float(jnp.sum(jnp.exp(log_p))) == pytest.approx(1.0, abs=1e-12)


# -- log-densities against scipy and float64 references ------------------------------------


def _data(seed: int, shape: tuple[int, ...]) -> tuple[F64, F64, F64]:
    rng = np.random.default_rng(seed)
    return rng.uniform(size=shape), rng.normal(scale=2.0, size=shape), rng.normal(size=shape)


def _per_example(values: F64) -> F64:
    summed: F64 = values.reshape(values.shape[0], -1).sum(axis=1)
    return summed


def _f64(likelihood: AbstractLikelihood, x: F64, output: F64) -> F64:
    with jax.enable_x64(True):
        return np.asarray(likelihood.log_prob(jnp.asarray(x), jnp.asarray(output)), np.float64)


def test_gaussian_and_laplace_log_densities_match_scipy() -> None:
    x, location, log_scale = _data(0, (3, 2, 4))
    both = np.concatenate([location, log_scale], axis=-1)
    sigma = np.exp(log_scale)
    expected = _per_example(stats.norm.logpdf(x, location, sigma))
    np.testing.assert_allclose(
        _f64(GaussianLikelihood(variance="decoder"), x, both), expected, rtol=1e-12
    )
    fixed = _per_example(stats.norm.logpdf(x, location, math.sqrt(0.3)))
    np.testing.assert_allclose(
        _f64(GaussianLikelihood(variance=0.3), x, location), fixed, rtol=1e-12
    )
    half = _per_example(stats.norm.logpdf(x, location, math.sqrt(0.5)))
    np.testing.assert_allclose(_f64(MSELoss(), x, location), half, rtol=1e-12)
    laplace = _per_example(stats.laplace.logpdf(x, location, sigma))
    np.testing.assert_allclose(
        _f64(LaplaceLikelihood(scale="decoder"), x, both), laplace, rtol=1e-12
    )
    unit = _per_example(stats.laplace.logpdf(x, location, 1.0))
    np.testing.assert_allclose(_f64(MAELoss(), x, location), unit, rtol=1e-12)


def test_bernoulli_log_probabilities_match_scipy() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(4, 6)).astype(np.float64)
    logits = rng.normal(scale=3.0, size=(4, 6))
    expected = _per_example(stats.bernoulli.logpmf(x, special.expit(logits)))
    probabilities = special.expit(logits)
    cases: list[tuple[AbstractLikelihood, F64]] = [
        (BernoulliLikelihood(), logits),
        (BCEWithLogitsLoss(), logits),
        (BernoulliLikelihood(logits=False), probabilities),
        (BCELoss(), probabilities),
    ]
    for likelihood, output in cases:
        np.testing.assert_allclose(_f64(likelihood, x, output), expected, rtol=1e-10)


def _continuous_bernoulli_reference(x: F64, lam: F64) -> F64:
    """log p in float64 from the paper's closed form in lambda, the normaliser by
    quadrature where the closed form is 0 / 0 (lambda = 1/2)."""
    normaliser = np.empty_like(lam)
    for index, value in np.ndenumerate(lam):
        if abs(value - 0.5) > 1e-3:
            normaliser[index] = 2 * np.arctanh(1 - 2 * value) / (1 - 2 * value)
        else:
            mass, _ = integrate.quad(lambda t, v=value: v**t * (1 - v) ** (1 - t), 0.0, 1.0)
            normaliser[index] = 1.0 / mass
    log_p = np.log(normaliser) + x * np.log(lam) + (1 - x) * np.log1p(-lam)
    return _per_example(log_p)


def test_continuous_bernoulli_log_density_matches_an_independent_float64_one() -> None:
    x, logits, _ = _data(2, (5, 7))
    logits[0, :3] = [0.0, 1e-4, -0.15]  # at and near lambda = 1/2, inside the Taylor cut
    logits[1, :2] = [0.2, -0.2]  # at the cut
    lam = special.expit(logits)
    expected = _continuous_bernoulli_reference(x, lam)
    np.testing.assert_allclose(
        _f64(ContinuousBernoulliLikelihood(), x, logits), expected, rtol=1e-10
    )
    np.testing.assert_allclose(
        _f64(ContinuousBernoulliLikelihood(logits=False), x, lam), expected, rtol=1e-10
    )


def test_continuous_bernoulli_mean_is_the_density_s_mean() -> None:
    likelihood = ContinuousBernoulliLikelihood()
    for eta in (-6.0, -0.2, -1e-3, 0.0, 0.1, 0.25, 3.0):
        with jax.enable_x64(True):
            log_p = _log_prob_at(likelihood, [eta])
            mean, _ = integrate.quad(lambda t, f=log_p: t * math.exp(f(t)), 0.0, 1.0)
            got = float(likelihood.mean(jnp.full((1, 1), eta, jnp.float64))[0, 0])
        assert got == pytest.approx(mean, abs=1e-10), eta


def test_discretised_logistic_matches_scipy_logistic_masses() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(4, 5)) / 255.0
    x[0, 0], x[0, 1] = 0.0, 1.0  # the two edge bins
    location = rng.uniform(-0.2, 1.2, size=(4, 5))
    log_scale = rng.uniform(-4.0, -1.0, size=(4, 5))
    scale = np.exp(log_scale)
    upper = np.where(x > 1 - 1 / 510, np.inf, x + 1 / 510)
    lower = np.where(x < 1 / 510, -np.inf, x - 1 / 510)
    masses = stats.logistic.cdf(upper, location, scale) - stats.logistic.cdf(lower, location, scale)
    expected = _per_example(np.log(masses))
    both = np.concatenate([location, log_scale], axis=-1)
    np.testing.assert_allclose(_f64(DiscretisedLogisticLikelihood(), x, both), expected, rtol=1e-9)

    # The mixture: the weighted sum of its components' masses.
    logits = rng.normal(size=(4, 5, 2))
    mixture_scales = np.exp(np.stack([log_scale, log_scale + 0.5], axis=-1))
    mixture_locations = np.stack([location, location - 0.3], axis=-1)
    component_masses = stats.logistic.cdf(
        upper[..., None], mixture_locations, mixture_scales
    ) - stats.logistic.cdf(lower[..., None], mixture_locations, mixture_scales)
    weights = special.softmax(logits, axis=-1)
    expected_mixture = _per_example(np.log(np.sum(weights * component_masses, axis=-1)))
    blocks = [logits[..., 0], logits[..., 1], *np.moveaxis(mixture_locations, -1, 0)]
    blocks += list(np.moveaxis(np.log(mixture_scales), -1, 0))
    output = np.concatenate(blocks, axis=-1)
    np.testing.assert_allclose(
        _f64(DiscretisedLogisticMixtureLikelihood(components=2), x, output),
        expected_mixture,
        rtol=1e-9,
    )


# -- numerical behaviour ----------------------------------------------------------------------


def test_continuous_bernoulli_is_smooth_at_one_half_and_finite_at_the_ends() -> None:
    likelihood = ContinuousBernoulliLikelihood()
    x = jnp.asarray([[0.0, 0.3, 1.0]])

    def loss(eta: jax.Array) -> jax.Array:
        return likelihood(x, jnp.broadcast_to(eta, (1, 3)))

    # The gradient is continuous across lambda = 1/2 and the Taylor cut at |eta| = 0.2.
    etas = jnp.asarray([-1e-4, 0.0, 1e-4, 0.2 - 1e-5, 0.2 + 1e-5])
    values = jax.vmap(loss)(etas)
    grads = jax.vmap(jax.grad(loss))(etas)
    assert np.all(np.isfinite(np.asarray(grads)))
    # At lambda = 1/2 the loss is log C(1/2) = log 2 less the Bernoulli's -3 log 2: 0.
    assert float(values[1]) == 0.0
    np.testing.assert_allclose(grads[:3], grads[1], atol=1e-4)
    assert abs(float(values[4] - values[3])) < 1e-5
    assert abs(float(grads[4] - grads[3])) < 1e-4
    # Logits far out and probabilities of exactly 0 and 1 stay finite, gradients too.
    for output, probs in (([-1e4, 1e4, 30.0], True), ([0.0, 1.0, 0.5], False)):
        chosen = ContinuousBernoulliLikelihood(logits=probs)
        value, grad = jax.value_and_grad(lambda r, c=chosen: c(x, r))(jnp.asarray([output]))
        assert np.isfinite(float(value))
        assert np.all(np.isfinite(np.asarray(grad)))


def test_a_learned_log_scale_is_floored() -> None:
    likelihood = GaussianLikelihood(variance="decoder")
    x = jnp.zeros((1, 1))
    floored = likelihood.log_prob(x, jnp.asarray([[0.0, -7.0]]))
    assert float(likelihood.log_prob(x, jnp.asarray([[0.0, -30.0]]))[0]) == float(floored[0])


def test_bits_per_dimension_by_hand() -> None:
    assert bits_per_dimension(-4 * math.log(2.0), 2) == pytest.approx(2.0)


# -- the spec's four losses are exactly today's ---------------------------------------------

# The losses as elbox computed them before likelihoods (reconstruction.py of 4d28ccb),
# kept here as the reference for bit-for-bit equality.


def _old_sum(values: jax.Array) -> jax.Array:
    return jnp.sum(values.reshape(values.shape[0], -1), axis=1)


def _old_floored_log(p: jax.Array) -> jax.Array:
    positive = p > 0
    safe = jnp.where(positive, p, 1.0)
    return jnp.where(positive, jnp.maximum(jnp.log(safe), -100.0), -100.0)


OLD_LOSSES: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "mse": lambda x, r: _old_sum((r - x) ** 2),
    "mae": lambda x, r: _old_sum(jnp.abs(r - x)),
    "bce": lambda x, r: _old_sum(
        -(x * _old_floored_log(r) + (1.0 - x) * _old_floored_log(1.0 - r))
    ),
    "bce_logits": lambda x, r: _old_sum(jax.nn.softplus(r) - x * r),
}


class ReferenceLoss(AbstractReconstructionLoss):
    """One of the old losses, as a custom loss, to run through the objective."""

    name: str

    def per_sample(self, x: jax.Array, recon_x: jax.Array) -> jax.Array:
        return OLD_LOSSES[self.name](x, recon_x)


@pytest.mark.parametrize("name", ["mse", "bce", "bce_logits", "mae"])
def test_the_spec_losses_are_bit_for_bit_what_they_were(name: str) -> None:
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.uniform(size=(6, 3, 5)), jnp.float32)
    if name == "bce":
        output = jnp.asarray(rng.uniform(size=(6, 3, 5)), jnp.float32)
        output = output.at[0, 0, :2].set(jnp.asarray([0.0, 1.0]))  # saturated
    else:
        output = jnp.asarray(rng.normal(scale=4.0, size=(6, 3, 5)), jnp.float32)
    loss = reconstruction_loss(name)  # type: ignore[arg-type]  # a name of the parametrisation
    old = OLD_LOSSES[name]
    np.testing.assert_array_equal(
        np.asarray(loss.per_sample(x, output)), np.asarray(old(x, output))
    )
    # Compiled, as the trainers run them: the batch mean, and the objective's recon_loss
    # and loss.
    old_mean = float(jax.jit(lambda a, b: jnp.mean(old(a, b)))(x, output))
    assert float(jax.jit(loss)(x, output)) == old_mean
    mean, logvar = jnp.ones((6, 2)), jnp.zeros((6, 2))
    _, metrics = jax.jit(lambda *a: elbo_terms(*a, kl_weight=0.5, loss_type=loss))(
        x, output, mean, logvar
    )
    old_terms = jax.jit(
        lambda a, b, m, v: elbo_terms(a, b, m, v, kl_weight=0.5, loss_type=ReferenceLoss(name))
    )
    _, expected = old_terms(x, output, mean, logvar)
    assert float(metrics["recon_loss"]) == float(expected["recon_loss"]) == old_mean
    assert float(metrics["loss"]) == float(expected["loss"])


@pytest.mark.parametrize(
    ("name", "constant"),
    [("mse", 0.5 * math.log(math.pi)), ("mae", math.log(2.0)), ("bce", 0.0), ("bce_logits", 0.0)],
)
def test_each_spec_loss_is_its_likelihood_less_a_constant(name: str, constant: float) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(3, 8)).astype(np.float64)
    output = rng.uniform(0.05, 0.95, size=(3, 8))
    loss = likelihood_from_name(name)  # type: ignore[arg-type]  # a name of the parametrisation
    with jax.enable_x64(True):
        nll = -np.asarray(loss.log_prob(jnp.asarray(x), jnp.asarray(output)))
        recon = np.asarray(loss.per_sample(jnp.asarray(x), jnp.asarray(output)))
    np.testing.assert_allclose(nll - recon, 8 * constant, atol=1e-12)


# -- names, shapes and errors ---------------------------------------------------------------


def test_every_name_gives_a_likelihood_of_its_decoder_outputs() -> None:
    x = jnp.full((2, 3, 4), 0.4)
    for name in LIKELIHOOD_NAMES:
        likelihood = likelihood_from_name(name)  # type: ignore[arg-type]  # listed names
        assert isinstance(likelihood, AbstractLikelihood)
        per_value = likelihood.decoder_outputs.per_value
        output = jnp.zeros((2, 3, 4 * per_value))
        assert likelihood.log_prob(x, output).shape == (2,)
        assert likelihood.mean(output).shape == x.shape
        assert isinstance(likelihood.describe(), str)
    assert likelihood_from_name("gaussian").decoder_outputs == DecoderOutputs(2, "global")
    assert likelihood_from_name("bernoulli", logits=False).mean(jnp.full((1, 1), 0.3)) == 0.3


@pytest.mark.usefixtures("without_hook_checks")
def test_errors_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"unknown likelihood 'poisson'; expected one of 'mse'"):
        likelihood_from_name("poisson")  # type: ignore[arg-type]  # deliberately bad
    with pytest.raises(ValueError, match="reads unbounded decoder outputs, not probabilities"):
        likelihood_from_name("gaussian", logits=False)
    with pytest.raises(ValueError, match=r"'bernoulli', 'continuous_bernoulli'"):
        reconstruction_loss("l1")  # type: ignore[arg-type]  # deliberately bad
    with pytest.raises(ValueError, match=r"GaussianLikelihood\.variance must be a positive number"):
        GaussianLikelihood(variance=0.0)
    with pytest.raises(ValueError, match=r"LaplaceLikelihood\.scale must be a positive number"):
        LaplaceLikelihood(scale="learned")  # type: ignore[arg-type]  # deliberately bad
    with pytest.raises(ValueError, match=r"BernoulliLikelihood\.binarisation must be one of"):
        BernoulliLikelihood(binarisation="static")  # type: ignore[arg-type]  # deliberately bad
    message = (
        r"GaussianLikelihood reads 2 decoder values per data value: for data of shape \(4, 3\) "
        r"the decoder's output must have shape \(4, 6\); got \(4, 3\)"
    )
    with pytest.raises(ValueError, match=message):
        GaussianLikelihood(variance="decoder").log_prob(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"DecoderOutputs.shared needs per_value >= 2"):
        DecoderOutputs(1, "global")


@pytest.mark.usefixtures("without_hook_checks")
def test_a_loss_of_your_own_trains_but_has_no_likelihood() -> None:
    class Huber(AbstractReconstructionLoss):
        def per_sample(self, x: jax.Array, recon_x: jax.Array) -> jax.Array:
            return jnp.sum(optax_huber(recon_x - x).reshape(x.shape[0], -1), axis=1)

    def optax_huber(error: jax.Array) -> jax.Array:
        return jnp.where(jnp.abs(error) < 1, 0.5 * error**2, jnp.abs(error) - 0.5)

    objective = ELBOObjective(schedule=lambda step: 1.0, loss_type=Huber(), report_neg_elbo=True)
    model = MLPVAE(4, hidden=8, latent=2, key=jax.random.key(0))
    _, metrics = objective(model, jnp.zeros((2, 4)), step=0, key=jax.random.key(1))
    # Without a log-density, the unannealed objective is the loss plus the KL.
    assert float(metrics["neg_elbo"]) >= float(metrics["recon_loss"])
    with pytest.raises(ValueError, match=r"or an elbox\.AbstractLikelihood"):
        log_likelihood(
            model,
            np.zeros((2, 4), np.float32),
            loss_type=Huber(),  # type: ignore[arg-type]  # deliberately not a likelihood
            key=jax.random.key(0),
        )
