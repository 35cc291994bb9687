"""Posterior collapse: KL per dimension, active units, and mutual information I_q(x; z)."""

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jaxtyping import Array, Float, TypeCheckError

from elbox.metrics import active_units, kl_per_dimension, mutual_information

from .helpers import FRAMEWORKS, Framework


def test_kl_per_dimension_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    means, logvars = rng.normal(size=(50, 4)), rng.normal(scale=0.5, size=(50, 4))
    expected = np.mean(-0.5 * (1.0 + logvars - means**2 - np.exp(logvars)), axis=0)
    got = kl_per_dimension(jnp.asarray(means, jnp.float32), jnp.asarray(logvars, jnp.float32))
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-5, atol=1e-6)


def test_active_units_is_the_variance_of_the_means_against_a_threshold() -> None:
    rng = np.random.default_rng(1)
    scales = np.array([1.0, 0.2, 0.05, 0.0])  # variances about 1, 0.04, 0.0025, 0
    means = rng.normal(size=(2000, 4)) * scales
    variance = means.var(axis=0)
    assert variance[1] > 0.01 > variance[2]
    got = active_units(jnp.asarray(means, jnp.float32))
    assert got.tolist() == (variance > 0.01).tolist() == [True, True, False, False]
    assert active_units(jnp.asarray(means, jnp.float32), 0.1).tolist() == [
        True,
        False,
        False,
        False,
    ]


def test_kl_and_active_units_check_shapes() -> None:
    with pytest.raises(TypeCheckError):
        kl_per_dimension(jnp.zeros((3, 2)), jnp.zeros((3, 4)))
    with pytest.raises(TypeCheckError):
        active_units(jnp.zeros(3))


# -- mutual information -------------------------------------------------------------------
#
# A toy with a known answer: x ~ N(0, 1) in one dimension and the encoder q(z|x) =
# N(a x, 1). Then z ~ N(0, 1 + a**2) and I(x; z) = log(1 + a**2) / 2: 0 for an encoder that
# ignores x (a = 0), growing with a.


class ScaledEncoder(eqx.Module):
    """q(z|x) = N(a x, exp(logvar))."""

    a: Array
    logvar: Array

    def __init__(self, a: float, logvar: float = 0.0) -> None:
        self.a, self.logvar = jnp.asarray(a), jnp.asarray(logvar)

    def encode(self, x: Float[Array, "batch 1"]) -> tuple[Array, Array]:
        mean = self.a * x
        return mean, jnp.full_like(mean, self.logvar)

    def decode(self, z: Float[Array, "batch 1"]) -> Array:
        return z


class NNXScaledEncoder(nnx.Module):
    def __init__(self, a: float, logvar: float = 0.0) -> None:
        self.a = nnx.Param(jnp.asarray(a))
        self.logvar = logvar

    def encode(self, x: Float[Array, "batch 1"]) -> tuple[Array, Array]:
        mean = self.a[...] * x
        return mean, jnp.full_like(mean, self.logvar)

    def decode(self, z: Float[Array, "batch 1"]) -> Array:
        return z


def scaled_encoder(framework: Framework, a: float, logvar: float = 0.0) -> Any:
    return NNXScaledEncoder(a, logvar) if framework == "nnx" else ScaledEncoder(a, logvar)


def reference_mi(means: Any, logvars: Any, key: jax.Array) -> float:
    """He et al.'s calc_mi in float64, with the codes drawn as documented."""
    mu, logvar = np.asarray(means, np.float64), np.asarray(logvars, np.float64)
    eps = np.asarray(jax.random.normal(key, mu.shape), np.float64)
    z = mu + np.exp(0.5 * logvar) * eps
    n, latent = mu.shape
    neg_entropy = np.mean(-0.5 * latent * math.log(2 * math.pi) - 0.5 * np.sum(1 + logvar, -1))
    deviation = z[:, None, :] - mu[None, :, :]
    log_density = -0.5 * np.sum(deviation**2 / np.exp(logvar)[None], axis=-1) - 0.5 * (
        latent * math.log(2 * math.pi) + np.sum(logvar, axis=-1)[None]
    )
    top = log_density.max(axis=1, keepdims=True)
    log_qz = top[:, 0] + np.log(np.sum(np.exp(log_density - top), axis=1)) - math.log(n)
    return float(neg_entropy - log_qz.mean())


X = np.random.default_rng(3).normal(size=(2000, 1)).astype(np.float32)


def test_an_encoder_that_ignores_x_has_no_information() -> None:
    key = jax.random.key(0)
    model = ScaledEncoder(0.0, logvar=0.3)
    got = mutual_information(model, X, key=key, batch_size=512)
    # All posteriors are one Gaussian, so log q(z) = log q(z|x) and the estimate is what is
    # left of the entropy's Monte Carlo error: (mean(eps**2) - 1) / 2.
    eps = np.asarray(jax.random.normal(key, X.shape), np.float64)
    np.testing.assert_allclose(got, 0.5 * (np.mean(eps**2) - 1.0), atol=2e-6)
    assert abs(got) < 4 * math.sqrt(1 / (2 * len(X)))


def test_information_grows_with_what_the_encoder_reveals() -> None:
    estimates = []
    for a in (0.5, 1.0, 2.0, 4.0):
        key = jax.random.key(1)
        got = mutual_information(ScaledEncoder(a), X, key=key, batch_size=512)
        assert got == pytest.approx(0.5 * math.log(1 + a**2), abs=0.05)
        means = a * X
        assert got == pytest.approx(reference_mi(means, np.zeros_like(means), key), abs=1e-4)
        estimates.append(got)
    assert estimates == sorted(estimates)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_encoder_that_reveals_one_bit_has_log_2(framework: Framework) -> None:
    x = np.repeat(np.array([[-1.0], [1.0]], np.float32), len(X) // 2, axis=0)
    key = jax.random.key(2)
    got = mutual_information(scaled_encoder(framework, 20.0), x, key=key, batch_size=512)
    # The two posteriors, N(-20, 1) and N(20, 1), do not overlap: log q(z_i) is
    # log q(z_i|x_i) - log 2, and the estimate is log 2 plus the entropy's Monte Carlo error.
    eps = np.asarray(jax.random.normal(key, x.shape), np.float64)
    np.testing.assert_allclose(got, math.log(2.0) + 0.5 * (np.mean(eps**2) - 1.0), atol=2e-6)
    assert got == pytest.approx(math.log(2.0), abs=4 * math.sqrt(1 / (2 * len(x))))


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("model", "x", "error", "message"),
    [
        (object(), X, TypeError, r"`encode\(x\) -> \(mean, logvar\)` and `decode\(z\)"),
        (ScaledEncoder(1.0), X[:1], ValueError, r"x must hold at least 2 examples .*; got 1"),
        (ScaledEncoder(1.0), X.astype(np.int32), ValueError, r"x must hold floating-point"),
    ],
)
def test_mutual_information_rejects_bad_input(
    model: Any, x: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        mutual_information(model, x, key=jax.random.key(0))
