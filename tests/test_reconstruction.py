"""Reconstruction losses against NumPy float64 references, plus properties and errors."""

from typing import Any

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import TypeCheckError

from elbox import (
    AbstractReconstructionLoss,
    BCELoss,
    BCEWithLogitsLoss,
    MAELoss,
    MSELoss,
    bce_loss,
    bce_with_logits_loss,
    mae_loss,
    mse_loss,
    reconstruction_loss,
)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _f32(a: Any) -> jax.Array:
    return jnp.asarray(a, jnp.float32)


def _per_sample_mean(values: FloatArray) -> float:
    return float(values.reshape(values.shape[0], -1).sum(axis=1).mean())


def ref_mse(x: FloatArray, r: FloatArray) -> float:
    return _per_sample_mean((r - x) ** 2)


def ref_mae(x: FloatArray, r: FloatArray) -> float:
    return _per_sample_mean(np.abs(r - x))


def ref_bce(x: FloatArray, p: FloatArray) -> float:
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_q = np.maximum(np.log(1.0 - p), -100.0)
    return _per_sample_mean(-(x * log_p + (1.0 - x) * log_q))


def ref_bce_logits(x: FloatArray, logits: FloatArray) -> float:
    return _per_sample_mean(np.logaddexp(0.0, logits) - x * logits)


def _data(seed: int, shape: tuple[int, ...]) -> tuple[FloatArray, FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=shape)
    logits = rng.normal(scale=3.0, size=shape)
    return x, logits, 1.0 / (1.0 + np.exp(-logits))


@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 4, 2)])
@pytest.mark.parametrize("seed", range(2))
def test_losses_match_numpy(shape: tuple[int, ...], seed: int) -> None:
    x, logits, probs = _data(seed, shape)
    assert float(mse_loss(_f32(x), _f32(logits))) == pytest.approx(ref_mse(x, logits), rel=1e-5)
    assert float(bce_loss(_f32(x), _f32(probs))) == pytest.approx(ref_bce(x, probs), rel=1e-4)
    assert float(bce_with_logits_loss(_f32(x), _f32(logits))) == pytest.approx(
        ref_bce_logits(x, logits), rel=1e-5
    )
    assert float(mae_loss(_f32(x), _f32(logits))) == pytest.approx(ref_mae(x, logits), rel=1e-5)


def test_mae_by_hand_and_its_gradient() -> None:
    x = jnp.array([[0.0, 1.0], [2.0, -1.0]])
    r = jnp.array([[0.5, -1.0], [1.0, 1.0]])
    # Per sample: 0.5 + 2.0 = 2.5 and 1.0 + 2.0 = 3.0; the mean over the batch is 2.75.
    loss, grad = jax.value_and_grad(lambda q: MAELoss()(x, q))(r)
    assert float(loss) == 2.75
    # d/dr of mean_i sum_j |r - x| is sign(r - x) / batch.
    np.testing.assert_array_equal(np.asarray(grad), [[0.5, -0.5], [-0.5, 0.5]])


def test_bce_by_hand() -> None:
    # x = 1, p = 0.5 on two pixels: 2 * log 2 per sample.
    assert float(BCELoss()(jnp.ones((3, 2)), jnp.full((3, 2), 0.5))) == pytest.approx(
        2 * np.log(2.0), rel=1e-6
    )


def test_bce_is_finite_at_zero_and_one_with_finite_gradients() -> None:
    x = jnp.array([[0.0, 1.0, 1.0, 0.0]])
    p = jnp.array([[0.0, 1.0, 0.0, 1.0]])  # two perfect, two maximally wrong predictions
    loss, grad = jax.value_and_grad(lambda q: BCELoss()(x, q))(p)
    assert float(loss) == pytest.approx(200.0)  # two terms at the -100 floor
    assert np.all(np.isfinite(np.asarray(grad)))


def test_bce_logits_is_stable_for_extreme_logits() -> None:
    x = jnp.array([[1.0, 0.0]])
    logits = jnp.array([[-1000.0, 1000.0]])
    loss, grad = jax.value_and_grad(lambda z: bce_with_logits_loss(x, z))(logits)
    assert float(loss) == pytest.approx(2000.0)
    np.testing.assert_allclose(np.asarray(grad), [[-1.0, 1.0]])


def test_bce_logits_equals_bce_of_sigmoid() -> None:
    x, logits, _ = _data(3, (4, 6))
    z = jnp.asarray(logits, jnp.float32)
    xs = jnp.asarray(x, jnp.float32)
    assert float(bce_with_logits_loss(xs, z)) == pytest.approx(
        float(bce_loss(xs, jax.nn.sigmoid(z))), rel=1e-4
    )


@pytest.mark.parametrize(
    ("name", "cls"),
    [("mse", MSELoss), ("bce", BCELoss), ("bce_logits", BCEWithLogitsLoss), ("mae", MAELoss)],
)
def test_lookup_by_name(name: str, cls: type[AbstractReconstructionLoss]) -> None:
    assert isinstance(reconstruction_loss(name), cls)  # type: ignore[arg-type]  # names from a list


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown loss_type 'l1'; expected one of 'mse', 'bce', 'bce_logits'"
    ):
        reconstruction_loss("l1")  # type: ignore[arg-type]  # deliberately bad


@pytest.mark.parametrize("loss", [mse_loss, bce_loss, bce_with_logits_loss, MSELoss()])
def test_shape_mismatch_names_both_shapes(loss: Any) -> None:
    with pytest.raises(TypeCheckError) as error:
        loss(jnp.zeros((4, 8)), jnp.zeros((4, 9)))
    assert "f32[4,8]" in str(error.value)
    assert "f32[4,9]" in str(error.value)


unit = st.floats(0.0, 1.0, width=32)
# A few shapes, each compiled once: the values are what the properties are about, and
# every new shape would cost a compilation of each loss.
shapes = st.sampled_from([(1, 1), (2, 5), (5, 3), (3, 2, 4)])


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(np.float32, shapes, elements=unit),
    data=st.data(),
)
def test_losses_are_non_negative(x: FloatArray, data: st.DataObject) -> None:
    p = data.draw(hnp.arrays(np.float32, x.shape, elements=unit))
    z = data.draw(hnp.arrays(np.float32, x.shape, elements=st.floats(-50, 50, width=32)))
    xs, ps, zs = jnp.asarray(x), jnp.asarray(p), jnp.asarray(z)
    for value in (mse_loss(xs, ps), bce_loss(xs, ps), bce_with_logits_loss(xs, zs)):
        assert np.isfinite(float(value))
        assert float(value) >= -1e-5


@settings(max_examples=40, deadline=None)
@given(
    x=hnp.arrays(
        np.float32,
        shapes,
        elements=st.sampled_from([0.0, 1.0]),
    ),
    data=st.data(),
)
def test_bce_finite_at_saturated_predictions(x: FloatArray, data: st.DataObject) -> None:
    p = data.draw(hnp.arrays(np.float32, x.shape, elements=st.sampled_from([0.0, 1.0])))
    assert np.isfinite(float(bce_loss(jnp.asarray(x), jnp.asarray(p))))
