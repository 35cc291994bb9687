"""Capacity annealing: recon + gamma * |KL - C(step)|, checked against NumPy in float64."""

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

from elbox import CapacityObjective, TrainStep, kl_loss
from elbox.models.equinox import MLPVAE

from .helpers import patterns

FloatArray = npt.NDArray[np.float64]


def _f32(a: Any) -> jax.Array:
    return jnp.asarray(a, jnp.float32)


def _numpy_capacity_loss(
    x: FloatArray,
    logits: FloatArray,
    mean: FloatArray,
    logvar: FloatArray,
    *,
    step: int,
    c_max: float,
    capacity_steps: int,
    gamma: float,
) -> dict[str, float]:
    """Burgess et al.'s eq. 8 with disentanglement_lib's `anneal`, in float64."""
    recon = (np.logaddexp(0.0, logits) - x * logits).sum(axis=1).mean()
    kl = (-0.5 * (1.0 + logvar - mean**2 - np.exp(logvar))).sum(axis=1).mean()
    capacity = min(c_max, c_max * step / capacity_steps)
    return {
        "loss": recon + gamma * abs(kl - capacity),
        "recon_loss": recon,
        "kl_loss": kl,
        "kl_weight": gamma,
        "capacity": capacity,
    }


@pytest.mark.parametrize("step", [0, 1, 250, 999, 1000, 1001, 50_000])
def test_loss_matches_numpy_before_during_and_after_the_ramp(step: int) -> None:
    rng = np.random.default_rng(step)
    x = rng.uniform(size=(6, 10))
    logits = rng.normal(size=(6, 10))
    mean, logvar = rng.normal(size=(6, 3)), rng.normal(scale=0.5, size=(6, 3))
    objective = CapacityObjective(
        c_max=20.0, capacity_steps=1000, gamma=7.0, loss_type="bce_logits"
    )
    loss, metrics = jax.jit(objective.terms)(
        _f32(x), _f32(logits), _f32(mean), _f32(logvar), jnp.asarray(step)
    )
    expected = _numpy_capacity_loss(
        x, logits, mean, logvar, step=step, c_max=20.0, capacity_steps=1000, gamma=7.0
    )
    assert sorted(metrics) == sorted(expected)
    for name, value in expected.items():
        assert float(metrics[name]) == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert float(loss) == float(metrics["loss"])


def test_capacity_is_exactly_linear_then_constant() -> None:
    objective = CapacityObjective(c_max=25.0, capacity_steps=100)
    capacity = jax.jit(objective.capacity)
    steps = np.arange(0, 301)
    values = np.asarray([float(capacity(jnp.asarray(s))) for s in steps])
    ramp = steps <= 100
    np.testing.assert_array_equal(values[ramp], 25.0 * steps[ramp] / 100)  # 0.25 per step
    np.testing.assert_array_equal(values[~ramp], 25.0)
    # The same at a long ramp, within float32's rounding.
    long_ramp = CapacityObjective(c_max=50.0, capacity_steps=100_000)
    for step in (0, 1, 33_333, 99_999, 100_000, 10**7):
        assert float(long_ramp.capacity(step)) == pytest.approx(
            min(50.0, 50.0 * step / 100_000), rel=1e-7, abs=0.0
        )


@pytest.mark.parametrize("side", ["above", "below"])
def test_gradients_push_the_kl_towards_the_capacity_from_both_sides(side: str) -> None:
    # One batch, KL about 6.5 nats; C = 0 at step 0 (KL above C) and 20 after the ramp.
    rng = np.random.default_rng(0)
    mean, logvar = _f32(rng.normal(size=(8, 4))), _f32(rng.normal(scale=0.3, size=(8, 4)))
    x = jnp.zeros((8, 5))
    gamma = 3.0
    objective = CapacityObjective(c_max=20.0, capacity_steps=10, gamma=gamma)
    step = 0 if side == "above" else 10

    def loss_of(posterior: tuple[jax.Array, jax.Array]) -> jax.Array:
        return objective.terms(x, x, posterior[0], posterior[1], step)[0]

    def kl_of(posterior: tuple[jax.Array, jax.Array]) -> jax.Array:
        return kl_loss(posterior[0], posterior[1])[0]

    kl, capacity = float(kl_of((mean, logvar))), float(objective.capacity(step))
    assert (kl > capacity) == (side == "above")
    # d loss / d (mean, logvar) is gamma * sign(KL - C) * d KL / d (mean, logvar).
    grads = jax.grad(loss_of)((mean, logvar))
    kl_grads = jax.grad(kl_of)((mean, logvar))
    sign = 1.0 if side == "above" else -1.0
    for grad, kl_grad in zip(grads, kl_grads, strict=True):
        np.testing.assert_allclose(grad, gamma * sign * kl_grad, rtol=1e-6, atol=1e-7)
    # A small gradient-descent step moves the KL towards C, without overshooting.
    rate = 0.01
    stepped = (mean - rate * grads[0], logvar - rate * grads[1])
    new_kl = float(kl_of(stepped))
    assert abs(new_kl - capacity) < abs(kl - capacity)
    assert (new_kl > capacity) == (side == "above")


def test_metrics_and_the_unannealed_objective_through_the_model() -> None:
    model = MLPVAE(12, hidden=16, latent=3, key=jax.random.key(0))
    objective = CapacityObjective(c_max=4.0, capacity_steps=8, gamma=10.0, report_neg_elbo=True)
    x = jax.random.uniform(jax.random.key(1), (5, 12))
    loss, metrics = eqx.filter_jit(objective)(model, x, step=2, key=jax.random.key(2))
    assert sorted(metrics) == [
        "capacity",
        "kl_loss",
        "kl_weight",
        "loss",
        "neg_elbo",
        "recon_loss",
    ]
    assert float(metrics["capacity"]) == 1.0
    assert float(metrics["kl_weight"]) == 10.0
    recon, kl = float(metrics["recon_loss"]), float(metrics["kl_loss"])
    # The unannealed negative ELBO under the normalised Gaussian of `mse`: its loss plus
    # the constant (D/2) log(pi) that the loss leaves out, D = 12.
    constant = 0.5 * 12 * math.log(math.pi)
    assert float(metrics["neg_elbo"]) == pytest.approx(recon + constant + kl, rel=1e-6)
    assert float(loss) == pytest.approx(recon + 10.0 * abs(kl - 1.0), rel=1e-6)


def test_train_step_holds_the_kl_near_the_capacity() -> None:
    # C = 3 nats from step 30 on; with gamma = 50 the KL settles next to it.
    objective = CapacityObjective(c_max=3.0, capacity_steps=30, gamma=50.0)
    train_step = TrainStep(objective, optax.adam(1e-2))
    model = MLPVAE(12, hidden=16, latent=3, key=jax.random.key(0))
    state = train_step.init(model, key=jax.random.key(1))
    data = patterns(16)
    run = jax.jit(
        lambda state: jax.lax.scan(train_step, state, jnp.broadcast_to(data, (150, 16, 12)))
    )
    _, metrics = run(state)
    np.testing.assert_allclose(metrics["capacity"][:31], 3.0 * np.arange(31) / 30, rtol=1e-6)
    final_kl = np.asarray(metrics["kl_loss"][-20:])
    assert np.all(np.abs(final_kl - 3.0) < 0.5), final_kl
    assert float(metrics["recon_loss"][-1]) < float(metrics["recon_loss"][0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"c_max": -1.0}, "CapacityObjective.c_max must be a finite number >= 0; got -1.0"),
        ({"c_max": float("nan")}, "CapacityObjective.c_max must be a finite number >= 0"),
        ({"gamma": -0.5}, "CapacityObjective.gamma must be a finite number >= 0; got -0.5"),
        ({"gamma": float("inf")}, "CapacityObjective.gamma must be a finite number >= 0"),
        ({"capacity_steps": 0}, "CapacityObjective.capacity_steps must be >= 1; got 0"),
        ({"capacity_steps": -5}, "CapacityObjective.capacity_steps must be >= 1; got -5"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CapacityObjective(**kwargs)


@pytest.mark.usefixtures("without_hook_checks")
def test_a_fractional_ramp_is_refused() -> None:
    message = "CapacityObjective.capacity_steps must be an integer >= 1; got 2.5"
    with pytest.raises(ValueError, match=re.escape(message)):
        CapacityObjective(capacity_steps=2.5)  # type: ignore[arg-type]  # the point


def test_the_signature_defaults_are_the_documented_constants() -> None:
    import inspect

    from elbox.objectives._capacity import DEFAULT_C_MAX, DEFAULT_CAPACITY_STEPS, DEFAULT_GAMMA

    parameters = inspect.signature(CapacityObjective.__init__).parameters
    assert parameters["c_max"].default == DEFAULT_C_MAX == 25.0
    assert parameters["capacity_steps"].default == DEFAULT_CAPACITY_STEPS == 100_000
    assert parameters["gamma"].default == DEFAULT_GAMMA == 1000.0
