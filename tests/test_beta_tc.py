"""beta-TC: the KL decomposition by minibatch-weighted sampling, and the objective built on it.

The estimator is checked against a float64 NumPy implementation of Chen et al.'s formula,
on codes with known total correlation, and for its sum (the sampled KL).
"""

import math
import re
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import optax
import pytest

from elbox import (
    BetaTCObjective,
    ConstantSchedule,
    ELBOObjective,
    LinearWarmup,
    TrainStep,
    encode_sample_decode,
    gaussian_log_density,
    kl_decomposition,
)
from elbox.models.equinox import MLPVAE

from .helpers import patterns

FloatArray = npt.NDArray[np.float64]
LOG_2PI = math.log(2 * math.pi)


# Compiled once per shape and dtype: cheaper than running the estimator op by op.
_decompose = jax.jit(kl_decomposition, static_argnames=("dataset_size",))


def _f32(a: Any) -> jax.Array:
    return jnp.asarray(a, jnp.float32)


def _log_normal(z: FloatArray, mean: Any, logvar: Any) -> FloatArray:
    return np.asarray(-0.5 * ((z - mean) ** 2 / np.exp(logvar) + logvar + LOG_2PI))


def _mws_reference(
    z: FloatArray, mean: FloatArray, logvar: FloatArray, dataset_size: int
) -> tuple[float, float, float]:
    """Chen et al. (2018), minibatch-weighted sampling, one sample at a time in float64:
    log q(z_i) ~ log sum_j q(z_i|x_j) - log(N M), and the same per dimension."""
    m, _ = z.shape
    log_nm = math.log(dataset_size * m)
    mi, tc, dim_kl = [], [], []
    for i in range(m):
        per_dim = _log_normal(z[i], mean, logvar)  # [j, d] = log q(z_id | x_j)
        log_q_given_x = per_dim[i].sum()
        log_q = np.logaddexp.reduce(per_dim.sum(axis=1)) - log_nm
        log_q_dims = np.logaddexp.reduce(per_dim, axis=0) - log_nm
        log_p = _log_normal(z[i], 0.0, 0.0).sum()
        mi.append(log_q_given_x - log_q)
        tc.append(log_q - log_q_dims.sum())
        dim_kl.append(log_q_dims.sum() - log_p)
    return float(np.mean(mi)), float(np.mean(tc)), float(np.mean(dim_kl))


def _posterior_batch(seed: int, m: int, d: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(m, d))
    logvar = rng.uniform(-1.5, 0.5, size=(m, d))
    z = mean + np.exp(logvar / 2) * rng.normal(size=(m, d))
    return z, mean, logvar


def _sampled_kl(z: FloatArray, mean: FloatArray, logvar: FloatArray) -> FloatArray:
    """log q(z_i|x_i) - log p(z_i) for each sample."""
    return np.asarray((_log_normal(z, mean, logvar) - _log_normal(z, 0.0, 0.0)).sum(axis=1))


def _analytic_kl(mean: FloatArray, logvar: FloatArray) -> FloatArray:
    return np.asarray((-0.5 * (1 + logvar - mean**2 - np.exp(logvar))).sum(axis=1))


# -- the estimator ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_size", [None, 1, 60_000])
def test_estimator_matches_the_papers_formula_in_float64(dataset_size: int | None) -> None:
    z, mean, logvar = _posterior_batch(0, 48, 3)
    expected = _mws_reference(z, mean, logvar, 1 if dataset_size is None else dataset_size)
    with jax.enable_x64(True):
        parts = _decompose(
            jnp.asarray(z), jnp.asarray(mean), jnp.asarray(logvar), dataset_size=dataset_size
        )
        np.testing.assert_allclose(np.asarray(parts, np.float64), expected, rtol=1e-12)
    parts32 = _decompose(_f32(z), _f32(mean), _f32(logvar), dataset_size=dataset_size)
    np.testing.assert_allclose(np.asarray(parts32, np.float64), expected, rtol=1e-5, atol=1e-4)


def test_total_correlation_of_independent_codes_is_close_to_zero() -> None:
    # A product distribution: each dimension's posterior means drawn independently.
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(512, 4))
    z = mean + rng.normal(size=(512, 4))
    parts = _decompose(_f32(z), _f32(mean), jnp.zeros((512, 4)))
    assert abs(float(parts.total_correlation)) < 0.05


def test_total_correlation_of_correlated_codes_is_clearly_positive() -> None:
    # All four dimensions share one mean: the codes are N(0, J + I), whose total correlation
    # is -log det(R) / 2 for the correlation matrix R (off-diagonal 1/2).
    rng = np.random.default_rng(2)
    mean = np.repeat(rng.normal(size=(512, 1)), 4, axis=1)
    z = mean + rng.normal(size=(512, 4))
    parts = _decompose(_f32(z), _f32(mean), jnp.zeros((512, 4)))
    correlation = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    exact = -0.5 * math.log(np.linalg.det(correlation))  # 0.58 nats
    assert float(parts.total_correlation) > 0.4
    assert float(parts.total_correlation) == pytest.approx(exact, abs=0.1)
    # Narrower posteriors around the same shared means: far more correlated codes.
    narrow = mean + 0.1 * rng.normal(size=(512, 4))
    tight = _decompose(_f32(narrow), _f32(mean), jnp.full((512, 4), 2 * math.log(0.1)))
    assert float(tight.total_correlation) > 3.0


def test_the_parts_sum_to_the_sampled_kl_exactly() -> None:
    z, mean, logvar = _posterior_batch(3, 64, 5)
    sampled = float(_sampled_kl(z, mean, logvar).mean())
    for dataset_size in (None, 1000):
        with jax.enable_x64(True):
            parts = _decompose(
                jnp.asarray(z), jnp.asarray(mean), jnp.asarray(logvar), dataset_size=dataset_size
            )
            assert float(sum(parts)) == pytest.approx(sampled, rel=1e-13)
        parts32 = _decompose(_f32(z), _f32(mean), _f32(logvar), dataset_size=dataset_size)
        assert float(sum(parts32)) == pytest.approx(sampled, rel=1e-5)


def test_the_parts_sum_to_the_analytic_kl_within_monte_carlo_error() -> None:
    z, mean, logvar = _posterior_batch(4, 512, 4)
    parts = _decompose(_f32(z), _f32(mean), _f32(logvar))
    errors = _sampled_kl(z, mean, logvar) - _analytic_kl(mean, logvar)
    standard_error = errors.std(ddof=1) / math.sqrt(len(errors))
    analytic = float(_analytic_kl(mean, logvar).mean())
    assert abs(float(sum(parts)) - analytic) < 4 * standard_error
    assert standard_error < 0.1 * analytic  # the check means something


def test_dataset_size_moves_a_constant_between_the_parts() -> None:
    z, mean, logvar = (_f32(a) for a in _posterior_batch(5, 32, 3))
    batch_only = _decompose(z, mean, logvar)
    corrected = _decompose(z, mean, logvar, dataset_size=10_000)
    shift = math.log(10_000)
    assert float(corrected.mutual_info - batch_only.mutual_info) == pytest.approx(shift, rel=1e-5)
    assert float(corrected.total_correlation - batch_only.total_correlation) == pytest.approx(
        2 * shift, rel=1e-5
    )
    assert float(corrected.dimension_kl - batch_only.dimension_kl) == pytest.approx(
        -3 * shift, rel=1e-5
    )


def test_disentanglement_libs_estimate_is_shifted_by_a_constant() -> None:
    # disentanglement_lib's `total_correlation` omits log(N M): ours minus (D - 1) log(N M).
    z, mean, logvar = _posterior_batch(6, 40, 3)
    pairwise = _log_normal(z[:, None, :], mean[None], logvar[None])  # [i, j, d]
    log_qz = np.logaddexp.reduce(pairwise.sum(axis=2), axis=1)
    log_qz_product = np.logaddexp.reduce(pairwise, axis=1).sum(axis=1)
    theirs = float(np.mean(log_qz - log_qz_product))
    ours = _decompose(_f32(z), _f32(mean), _f32(logvar), dataset_size=737)
    assert float(ours.total_correlation) == pytest.approx(theirs + 2 * math.log(737 * 40), rel=1e-5)


def test_gaussian_log_density_matches_numpy_and_broadcasts() -> None:
    rng = np.random.default_rng(7)
    z, mean, logvar = (
        rng.normal(size=(3, 1, 2)),
        rng.normal(size=(1, 4, 2)),
        rng.normal(size=(1, 4, 2)),
    )
    density = gaussian_log_density(_f32(z), _f32(mean), _f32(logvar))
    assert density.shape == (3, 4, 2)
    np.testing.assert_allclose(density, _log_normal(z, mean, logvar), rtol=1e-5, atol=1e-6)


def test_dataset_size_below_one_is_refused() -> None:
    z = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match=re.escape("dataset_size must be >= 1; got 0")):
        kl_decomposition(z, z, z, dataset_size=0)
    with pytest.raises(ValueError, match=re.escape("BetaTCObjective.dataset_size must be >= 1")):
        BetaTCObjective(schedule=ConstantSchedule(1.0), dataset_size=0)


# -- the objective ---------------------------------------------------------------------------


def test_loss_is_the_elbo_plus_beta_minus_one_total_correlations() -> None:
    rng = np.random.default_rng(8)
    x, logits = rng.uniform(size=(16, 6)), rng.normal(size=(16, 6))
    z, mean, logvar = _posterior_batch(8, 16, 3)
    args = [_f32(a) for a in (x, logits, mean, logvar, z)]
    schedule = LinearWarmup(beta=6.0, warmup_steps=10)
    objective = BetaTCObjective(schedule=schedule, loss_type="bce_logits", report_neg_elbo=True)
    recon = float((np.logaddexp(0.0, logits) - x * logits).sum(axis=1).mean())
    kl = float(_analytic_kl(mean, logvar).mean())
    mi, tc, dim_kl = _mws_reference(z, mean, logvar, 1)
    terms = jax.jit(objective.terms)
    for step, weight in ((0, 0.0), (5, 3.0), (10, 6.0), (99, 6.0)):
        loss, metrics = terms(*args, jnp.asarray(step))
        expected = {
            "loss": recon + kl + (weight - 1.0) * tc,
            "recon_loss": recon,
            "kl_loss": kl,
            "kl_weight": weight,
            "mutual_info": mi,
            "total_correlation": tc,
            "dimension_kl": dim_kl,
            "neg_elbo": recon + kl,
        }
        assert sorted(metrics) == sorted(expected)
        for name, value in expected.items():
            assert float(metrics[name]) == pytest.approx(value, rel=1e-5, abs=1e-5), (step, name)
        assert float(loss) == float(metrics["loss"])
    # Weight 1: the plain negative ELBO.
    plain = BetaTCObjective(schedule=ConstantSchedule(1.0), loss_type="bce_logits")
    elbo = ELBOObjective(schedule=ConstantSchedule(1.0), loss_type="bce_logits")
    x32, logits32, mean32, logvar32, z32 = args
    loss, _ = plain.terms(x32, logits32, mean32, logvar32, z32, 0)
    elbo_loss, _ = elbo.terms(x32, logits32, mean32, logvar32, 0)
    assert float(loss) == pytest.approx(float(elbo_loss), rel=1e-6)


def test_the_objective_draws_the_code_from_the_steps_key() -> None:
    model = MLPVAE(12, hidden=16, latent=3, key=jax.random.key(0))
    x = jax.random.uniform(jax.random.key(1), (10, 12))
    key = jax.random.key(2)
    objective = BetaTCObjective(schedule=ConstantSchedule(4.0))
    loss, metrics = eqx.filter_jit(objective)(model, x, step=0, key=key)

    @eqx.filter_jit
    def by_hand(model: MLPVAE) -> tuple[jax.Array, dict[str, jax.Array]]:
        # Encode, draw z = mean + exp(logvar / 2) * noise from the key, decode.
        mean, logvar = model.encode(x)
        z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
        return objective.terms(x, model.decode(z), mean, logvar, z, 0)

    expected_loss, expected = by_hand(model)
    for name, value in expected.items():
        assert float(metrics[name]) == pytest.approx(float(value), rel=1e-5, abs=1e-6), name
    assert float(loss) == pytest.approx(float(expected_loss), rel=1e-5)


class _CallOnly(eqx.Module):
    """A VAE that is only ever called whole."""

    weight: jax.Array

    def __call__(self, x: jax.Array, *, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        latent = x[:, :2] * self.weight
        return x, latent, latent


class _EncodeOnly(_CallOnly):
    def encode(self, x: jax.Array) -> jax.Array:
        return x  # not (mean, logvar)


def test_a_model_without_encode_and_decode_is_refused() -> None:
    objective = BetaTCObjective(schedule=ConstantSchedule(1.0))
    x = jnp.zeros((4, 3))
    with pytest.raises(TypeError) as error:
        objective(_CallOnly(jnp.ones(())), x, step=0, key=jax.random.key(0))
    message = str(error.value)
    assert "_CallOnly has no encode or decode method" in message
    assert "model.encode(x) -> (mean, logvar) and model.decode(z) -> recon_x" in message


def test_an_encode_that_is_not_a_pair_is_refused() -> None:
    class WithDecode(_EncodeOnly):
        def decode(self, z: jax.Array) -> jax.Array:
            return z

    with pytest.raises(
        TypeError, match=re.escape("WithDecode.encode(x) must return (mean, logvar)")
    ):
        encode_sample_decode(WithDecode(jnp.ones(())), jnp.zeros((4, 3)), key=jax.random.key(0))


def test_train_step_minimises_the_beta_tc_objective() -> None:
    objective = BetaTCObjective(schedule=ConstantSchedule(6.0), loss_type="bce_logits")
    train_step = TrainStep(objective, optax.adam(1e-2))
    model = MLPVAE(12, hidden=16, latent=3, key=jax.random.key(0))
    state = train_step.init(model, key=jax.random.key(1))
    data = patterns(32)
    run = jax.jit(lambda s: jax.lax.scan(train_step, s, jnp.broadcast_to(data, (100, 32, 12))))
    _, metrics = run(state)
    losses = np.asarray(metrics["loss"])
    assert np.all(np.isfinite(losses))
    assert losses[-10:].mean() < losses[:10].mean()
    assert np.all(np.asarray(metrics["kl_weight"]) == 6.0)
