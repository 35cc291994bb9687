"""log_likelihood: the importance-weighted bound, against closed forms and float64 NumPy."""

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import pytest
from flax import nnx
from jaxtyping import Array, Float
from scipy import stats  # type: ignore[import-untyped]  # SciPy ships no type hints

import elbox.metrics._likelihood
from elbox import GaussianLikelihood
from elbox.metrics import log_likelihood
from elbox.metrics._likelihood import negative_log_likelihood

from .helpers import Framework

F64 = npt.NDArray[np.float64]

# -- a linear-Gaussian VAE, whose marginal likelihood is known ------------------------------
#
# p(z) = N(0, I), p(x|z) = N(W z + b, I/2) (the likelihood of `mse`). Then
# p(x) = N(b, W W^T + I/2), and with orthogonal columns W^T W = diag(c**2) the posterior is
# N(A (x - b), diag(1 / (1 + 2 c**2))) with A = 2 diag(1 / (1 + 2 c**2)) W^T: diagonal, so
# the encoder can be exact.

FEATURES, LATENT = 6, 3
SCALES = np.array([1.5, 0.8, 0.3])


def linear_gaussian() -> tuple[F64, F64]:
    """W (features x latent, orthogonal columns of norms SCALES) and b."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(FEATURES, LATENT)))
    return q * SCALES, rng.normal(size=FEATURES)


def exact_posterior(w: F64, b: F64) -> tuple[F64, F64, F64]:
    """The encoder's (A, offset, logvar): mean = x @ A.T + offset."""
    variance = 1.0 / (1.0 + 2.0 * np.sum(w**2, axis=0))
    a = 2.0 * variance[:, None] * w.T
    return a, -a @ b, np.log(variance)


def log_marginal(x: F64, w: F64, b: F64) -> F64:
    """log N(x; b, W W^T + I/2) in float64."""
    cov = w @ w.T + 0.5 * np.eye(FEATURES)
    _, logdet = np.linalg.slogdet(cov)
    centred = x - b
    mahalanobis = np.sum(centred * np.linalg.solve(cov, centred.T).T, axis=1)
    log_density: F64 = -0.5 * (mahalanobis + logdet + FEATURES * math.log(2 * math.pi))
    return log_density


def analytic_elbo(x: F64, w: F64, b: F64, a: F64, offset: F64, logvar: F64) -> F64:
    """E_q[log p(x|z)] - KL(q || p) for the linear-Gaussian VAE, in float64."""
    mean = x @ a.T + offset
    variance = np.exp(logvar)
    expected_sq = np.sum((x - mean @ w.T - b) ** 2, axis=1) + np.sum(w**2 @ variance)
    recon = expected_sq + 0.5 * FEATURES * math.log(math.pi)
    kl = np.sum(-0.5 * (1.0 + logvar - mean**2 - variance), axis=1)
    elbo: F64 = -(recon + kl)
    return elbo


class LinearVAE(eqx.Module):
    """Encoder `mean = x A^T + offset`, constant `logvar`; decoder `W z + b`."""

    w: Array
    b: Array
    a: Array
    offset: Array
    logvar: Array

    def encode(self, x: Float[Array, "batch features"]) -> tuple[Array, Array]:
        mean = x @ self.a.T + self.offset[None]
        return mean, jnp.broadcast_to(self.logvar[None], mean.shape)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        return z @ self.w.T + self.b[None]


class NNXLinearVAE(nnx.Module):
    """The same model in Flax NNX."""

    def __init__(self, w: F64, b: F64, a: F64, offset: F64, logvar: F64) -> None:
        self.w, self.b, self.a = (nnx.Param(jnp.asarray(v, jnp.float32)) for v in (w, b, a))
        self.offset = nnx.Param(jnp.asarray(offset, jnp.float32))
        self.logvar = nnx.Param(jnp.asarray(logvar, jnp.float32))

    def encode(self, x: Float[Array, "batch features"]) -> tuple[Array, Array]:
        mean = x @ self.a[...].T + self.offset[...][None]
        return mean, jnp.broadcast_to(self.logvar[...][None], mean.shape)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        return z @ self.w[...].T + self.b[...][None]


PERTURBATION = 1.0


def linear_vae(framework: Framework, *, perturb: bool = False) -> Any:
    w, b = linear_gaussian()
    a, offset, logvar = exact_posterior(w, b)
    if perturb:  # a worse proposal: the posterior moved by one unit in every dimension
        offset = offset + PERTURBATION
    if framework == "nnx":
        return NNXLinearVAE(w, b, a, offset, logvar)
    arrays = (jnp.asarray(v, jnp.float32) for v in (w, b, a, offset, logvar))
    return LinearVAE(*arrays)


def linear_data(n: int, seed: int = 1) -> F64:
    """n draws of x from the linear-Gaussian model, rounded to float32."""
    w, b = linear_gaussian()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, LATENT)) @ w.T + b + math.sqrt(0.5) * rng.normal(size=(n, FEATURES))
    return x.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize(("framework", "samples"), [("equinox", (1, 3, 50)), ("nnx", (5,))])
def test_exact_posterior_gives_log_marginal_for_every_k(
    framework: Framework, samples: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One sample per chunk, so that every K shares one compilation.
    monkeypatch.setattr(elbox.metrics._likelihood, "_PAIRS_PER_CHUNK", 40)
    x = linear_data(40)
    expected = log_marginal(x, *linear_gaussian())
    model = linear_vae(framework)
    for k in samples:
        got = log_likelihood(
            model, jnp.asarray(x, jnp.float32), num_samples=k, key=jax.random.key(k)
        )
        np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=2e-6, atol=2e-5)


# -- the Gaussian likelihoods: fixed, learned global, per feature, predicted ----------------
#
# p(z) = N(0, I), p(x|z) = N(W z + b, S) with S diagonal. With W's columns on disjoint
# features, W^T S^-1 W is diagonal for every diagonal S, so the posterior
# N(P W^T S^-1 (x - b), P), P = (I + W^T S^-1 W)^-1, is diagonal and the encoder exact;
# the bound is then log N(x; b, W W^T + S) for every K.

DISJOINT_W = np.array(
    [[1.2, 0, 0], [-0.7, 0, 0], [0, 0.9, 0], [0, 0.4, 0], [0, 0, 1.6], [0, 0, -0.3]]
)
OFFSET_B = np.array([0.5, -1.0, 0.2, 0.0, 1.1, -0.4])


class GaussianDecoderVAE(eqx.Module):
    """An exact linear encoder; a decoder returning `W z + b` and, for a likelihood with a
    learned variance, `log sigma` as the second block (a learned array for "global" and
    "per_feature", computed from z, here a constant function of it, for "decoder")."""

    w: Array
    b: Array
    a: Array
    offset: Array
    logvar: Array
    log_sigma: Array | None
    from_code: bool = eqx.field(static=True)

    def encode(self, x: Float[Array, "batch features"]) -> tuple[Array, Array]:
        mean = x @ self.a.T + self.offset[None]
        return mean, jnp.broadcast_to(self.logvar[None], mean.shape)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        mean = z @ self.w.T + self.b[None]
        if self.log_sigma is None:
            return mean
        log_sigma = jnp.broadcast_to(self.log_sigma, mean.shape)
        if self.from_code:
            log_sigma = log_sigma + 0.0 * jnp.sum(z, axis=1, keepdims=True)
        return jnp.concatenate([mean, log_sigma], axis=-1)


def _gaussian_case(variance: Any) -> tuple[GaussianLikelihood, F64, GaussianDecoderVAE]:
    """The likelihood, the noise variance of each feature, and the exact model."""
    log_sigma: F64 | None
    if variance == "global":
        log_sigma = np.array(-0.4)
    elif variance in ("per_feature", "decoder"):
        log_sigma = np.array([-0.9, -0.2, 0.3, -0.6, 0.1, -1.2])
    else:
        log_sigma = None
    noise = (
        np.full(FEATURES, float(variance))
        if log_sigma is None
        else np.broadcast_to(np.exp(2 * log_sigma), (FEATURES,)).copy()
    )
    precision_w = DISJOINT_W / noise[:, None]
    posterior = 1.0 / (1.0 + np.sum(DISJOINT_W * precision_w, axis=0))
    a = posterior[:, None] * precision_w.T
    w, b, a_, offset, logvar = (
        jnp.asarray(v, jnp.float32)
        for v in (DISJOINT_W, OFFSET_B, a, -a @ OFFSET_B, np.log(posterior))
    )
    model = GaussianDecoderVAE(
        w=w,
        b=b,
        a=a_,
        offset=offset,
        logvar=logvar,
        log_sigma=None if log_sigma is None else jnp.asarray(log_sigma, jnp.float32),
        from_code=variance == "decoder",
    )
    return GaussianLikelihood(variance=variance), noise, model


@pytest.mark.parametrize("variance", [0.3, 2.0, "global", "per_feature", "decoder"])
def test_each_gaussian_likelihood_s_bound_is_the_exact_log_marginal(variance: Any) -> None:
    likelihood, noise, model = _gaussian_case(variance)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(30, LATENT)) @ DISJOINT_W.T + OFFSET_B
    x = (x + np.sqrt(noise) * rng.normal(size=(30, FEATURES))).astype(np.float32)
    covariance = DISJOINT_W @ DISJOINT_W.T + np.diag(noise)
    expected = stats.multivariate_normal(OFFSET_B, covariance).logpdf(x.astype(np.float64))
    got = log_likelihood(model, x, loss_type=likelihood, num_samples=4, key=jax.random.key(1))
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=2e-6, atol=2e-5)


# One data set size and one sample per chunk for the two tests below: one compilation.
PERTURBED_DATA = 1000


@pytest.fixture
def one_sample_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elbox.metrics._likelihood, "_PAIRS_PER_CHUNK", PERTURBED_DATA)


@pytest.mark.usefixtures("one_sample_per_chunk")
def test_bound_rises_with_k_towards_log_marginal() -> None:
    x = linear_data(PERTURBED_DATA)
    exact = log_marginal(x, *linear_gaussian()).mean()
    model = linear_vae("equinox", perturb=True)
    gaps = []
    for k in (1, 10, 100, 1000):
        bound = log_likelihood(
            model, jnp.asarray(x, jnp.float32), num_samples=k, key=jax.random.key(0)
        )
        gaps.append(exact - float(jnp.mean(bound)))
    assert gaps[0] > 2.0  # the perturbed proposal is visibly worse than the posterior
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3]
    # Never above log p(x) beyond Monte Carlo error, and most of the gap closed at K=1000.
    assert gaps[3] > -0.01
    assert gaps[3] < 0.1 * gaps[0]


@pytest.mark.usefixtures("one_sample_per_chunk")
def test_k1_is_the_elbo_in_expectation() -> None:
    x = linear_data(PERTURBED_DATA, seed=2)
    w, b = linear_gaussian()
    a, offset, logvar = exact_posterior(w, b)
    offset = offset + PERTURBATION  # as linear_vae(perturb=True)
    elbo = analytic_elbo(x, w, b, a, offset, logvar)
    model = linear_vae("equinox", perturb=True)
    bounds = [
        np.asarray(
            log_likelihood(
                model, jnp.asarray(x, jnp.float32), num_samples=1, key=jax.random.key(seed)
            ),
            np.float64,
        )
        for seed in range(4)
    ]
    difference = np.concatenate(bounds) - np.tile(elbo, 4)
    standard_error = difference.std() / math.sqrt(difference.size)
    assert abs(difference.mean()) < 4 * standard_error
    assert standard_error < 0.05  # a test with teeth: the ELBO is about -10


# -- every likelihood against a float64 reference built from the documented noise -----------


def reference_bound(model: Any, x: F64, loss_type: str, num_samples: int, key: jax.Array) -> F64:
    """L_K in float64 from the samples log_likelihood documents it draws."""
    mean_f32, logvar_f32 = jax.jit(lambda v: model.encode(v))(jnp.asarray(x, jnp.float32))
    mean, logvar = np.asarray(mean_f32, np.float64), np.asarray(logvar_f32, np.float64)
    n, latent = mean.shape

    def noise(i: jax.Array, k: jax.Array) -> jax.Array:
        return jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, i), k), (latent,))

    grid = jnp.arange(n)[:, None], jnp.arange(num_samples)[None, :]
    eps = np.asarray(jax.vmap(jax.vmap(noise, (None, 0)), (0, None))(grid[0][:, 0], grid[1][0]))
    eps = eps.astype(np.float64)  # (n, K, latent)
    z = mean[:, None] + np.exp(0.5 * logvar)[:, None] * eps
    decode = jax.jit(lambda v: model.decode(v))
    out = np.asarray(
        decode(jnp.asarray(z.reshape(n * num_samples, latent), jnp.float32)), np.float64
    ).reshape(n, num_samples, -1)
    log_px = reference_log_p_x(loss_type, x.reshape(n, 1, -1), out)
    log_pz = -0.5 * np.sum(z**2, axis=-1) - 0.5 * latent * math.log(2 * math.pi)
    log_qz = -0.5 * np.sum(eps**2 + logvar[:, None] + math.log(2 * math.pi), axis=-1)
    log_w = log_px + log_pz - log_qz
    top = log_w.max(axis=1, keepdims=True)
    bound: F64 = top[:, 0] + np.log(np.mean(np.exp(log_w - top), axis=1))
    return bound


def reference_log_p_x(loss_type: str, x: F64, out: F64) -> F64:
    """log p(x|z) of each row, in float64, from the formulas log_likelihood documents."""
    d = x.shape[-1]
    if loss_type == "mse":
        log_p: F64 = -np.sum((x - out) ** 2, axis=-1) - 0.5 * d * math.log(math.pi)
    elif loss_type == "mae":
        log_p = -np.sum(np.abs(x - out), axis=-1) - d * math.log(2.0)
    elif loss_type == "bce":
        with np.errstate(divide="ignore"):  # log 0, floored at -100 as the loss does
            log_p = np.sum(
                x * np.maximum(np.log(out), -100.0) + (1 - x) * np.maximum(np.log(1 - out), -100.0),
                axis=-1,
            )
    else:  # bce_logits
        log_p = np.sum(x * out - np.logaddexp(0.0, out), axis=-1)
    return log_p


@pytest.mark.parametrize("loss_type", ["mse", "bce", "bce_logits", "mae"])
def test_each_loss_is_read_as_its_likelihood(loss_type: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 7))
    if loss_type.startswith("bce"):
        x = np.round(x)
    out = rng.uniform(size=(5, 7)) if loss_type == "bce" else rng.normal(size=(5, 7))
    if loss_type == "bce":
        out[0, :2] = [0.0, 1.0]  # saturated probabilities stay finite
    got = negative_log_likelihood(
        loss_type, jnp.asarray(x, jnp.float32), jnp.asarray(out, jnp.float32)
    )
    expected = -reference_log_p_x(loss_type, x, out)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-5, atol=1e-4)


class ImageVAE(eqx.Module):
    """A linear VAE on (batch, 4, 4, 1) images, with logits out."""

    w: Array

    def encode(self, x: Float[Array, "batch 4 4 1"]) -> tuple[Array, Array]:
        mean = x.reshape(x.shape[0], -1) @ self.w
        return mean, jnp.tanh(mean)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        return (z @ self.w.T).reshape(z.shape[0], 4, 4, 1)


def test_the_bound_matches_a_float64_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of 2 samples: the bound is accumulated over 4 chunks, the last one masked. Six
    # examples in batches of 4, the last one padded: the reference has no batches at all.
    monkeypatch.setattr(elbox.metrics._likelihood, "_PAIRS_PER_CHUNK", 8)
    rng = np.random.default_rng(7)
    model = ImageVAE(jnp.asarray(rng.normal(size=(16, 2)) / 4, jnp.float32))
    x = np.round(rng.uniform(size=(6, 4, 4, 1)))
    key = jax.random.key(11)
    got = log_likelihood(
        model, x.astype(np.float32), loss_type="bce_logits", num_samples=7, key=key, batch_size=4
    )
    assert got.shape == (6,)
    expected = reference_bound(model, x, "bce_logits", 7, key)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-5, atol=1e-4)


TRACES: list[int] = []


class CountingVAE(eqx.Module):
    """A linear VAE that counts how often its encoder is traced."""

    w: Array

    def encode(self, x: Float[Array, "batch features"]) -> tuple[Array, Array]:
        TRACES.append(x.shape[0])
        mean = x @ self.w
        return mean, jnp.zeros_like(mean)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        return z @ self.w.T


def test_compiles_once_per_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elbox.metrics._likelihood, "_PAIRS_PER_CHUNK", 8)  # 2 samples a chunk
    TRACES.clear()
    model = CountingVAE(jnp.ones((4, 2)) / 4)
    x = np.linspace(0.0, 1.0, 40, dtype=np.float32).reshape(10, 4)
    for seed, k in enumerate((5, 5, 9)):
        # Three batches of 4 (the last padded), new data, new keys, another K: compiled once.
        log_likelihood(model, x + seed, num_samples=k, key=jax.random.key(seed), batch_size=4)
    assert TRACES == [4]
    new_model = CountingVAE(jnp.ones((4, 2)) / 3)  # new weights, same shapes
    log_likelihood(new_model, x, num_samples=5, key=jax.random.key(0), batch_size=4)
    assert TRACES == [4]


# -- bad input ---------------------------------------------------------------------------------


class NoDecoder(eqx.Module):
    def encode(self, x: Array) -> tuple[Array, Array]:
        return x, x


class WrongDecoder(eqx.Module):
    def encode(self, x: Array) -> tuple[Array, Array]:
        return x[:, :2], x[:, :2]

    def decode(self, z: Array) -> Array:
        return z


class WrongEncoder(eqx.Module):
    def encode(self, x: Array) -> Array:
        return x

    def decode(self, z: Array) -> Array:
        return z


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("model", "kwargs", "error", "message"),
    [
        (object(), {}, TypeError, r"`encode\(x\) -> \(mean, logvar\)` and `decode\(z\)"),
        (NoDecoder(), {}, TypeError, r"\(NoDecoder\) has no `decode` method"),
        (object(), {}, TypeError, r"\(object\) has no `encode` and `decode` method"),
        (None, {"num_samples": 0}, ValueError, r"num_samples must be >= 1; got 0"),
        (None, {"num_samples": 2.5}, ValueError, r"num_samples must be an integer >= 1"),
        (None, {"loss_type": "huber"}, ValueError, r"loss_type must be one of 'mse', 'bce', "),
        (None, {"batch_size": 0}, ValueError, r"batch_size must be >= 1; got 0"),
        (None, {"x": np.zeros((3, 4), np.int32)}, ValueError, r"x must hold floating-point"),
        (None, {"x": np.zeros(3, np.float32)}, ValueError, r"x must have shape \(batch, ...\)"),
        (None, {"x": [[0.0]]}, TypeError, r"x must be a JAX or NumPy array"),
        (WrongDecoder(), {}, ValueError, r"model.decode\(z\) must return one output of the shape"),
        (WrongEncoder(), {}, TypeError, r"model.encode\(x\) must return \(mean, logvar\)"),
    ],
)
def test_bad_input_is_named(
    model: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {
        "x": np.zeros((3, 4), np.float32),
        "num_samples": 3,
        "key": jax.random.key(0),
        **kwargs,
    }
    with pytest.raises(error, match=message):
        log_likelihood(CountingVAE(jnp.ones((4, 2))) if model is None else model, **arguments)
