"""Gaussian KL and free bits against NumPy float64 references, plus properties."""

from typing import Any

import hypothesis.extra.numpy as hnp
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import TypeCheckError

from elbox import apply_free_bits, gaussian_kl, kl_loss

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def reference_kl(mean: FloatArray, logvar: FloatArray) -> FloatArray:
    return -0.5 * (1.0 + logvar - mean**2 - np.exp(logvar))


def _random(seed: int, shape: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(scale=0.7, size=shape)


@pytest.mark.parametrize("seed", range(3))
def test_gaussian_kl_matches_numpy(seed: int) -> None:
    mean, logvar = _random(seed, (7, 5))
    got = gaussian_kl(jnp.asarray(mean, jnp.float32), jnp.asarray(logvar, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), reference_kl(mean, logvar), rtol=1e-5, atol=1e-6)


def test_gaussian_kl_by_hand() -> None:
    # mean 1, logvar 0: 0.5 * 1 = 0.5;  mean 0, logvar log 2: -0.5 * (1 + log 2 - 2).
    got = gaussian_kl(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, float(np.log(2.0))]]))
    np.testing.assert_allclose(np.asarray(got), [[0.5, -0.5 * (np.log(2.0) - 1.0)]], rtol=1e-6)


@pytest.mark.parametrize("free_bits", [0.0, 0.3, 1.5])
def test_kl_loss_per_sample_matches_numpy(free_bits: float) -> None:
    mean, logvar = _random(11, (9, 4))
    kl = reference_kl(mean, logvar)
    clamped = np.maximum(kl, free_bits) if free_bits > 0 else kl
    loss, per_sample = kl_loss(
        jnp.asarray(mean, jnp.float32), jnp.asarray(logvar, jnp.float32), free_bits=free_bits
    )
    np.testing.assert_allclose(np.asarray(per_sample), clamped.sum(axis=1), rtol=1e-5)
    assert float(loss) == pytest.approx(clamped.sum(axis=1).mean(), rel=1e-5)


@pytest.mark.parametrize("free_bits", [0.0, 0.3, 1.5])
def test_kl_loss_batch_mode_matches_numpy(free_bits: float) -> None:
    mean, logvar = _random(12, (9, 4))
    kl = reference_kl(mean, logvar)
    per_dimension = kl.mean(axis=0)
    expected = (np.maximum(per_dimension, free_bits) if free_bits > 0 else per_dimension).sum()
    loss, per_sample = kl_loss(
        jnp.asarray(mean, jnp.float32),
        jnp.asarray(logvar, jnp.float32),
        free_bits=free_bits,
        free_bits_mode="batch",
    )
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(np.asarray(per_sample), kl.sum(axis=1), rtol=1e-5)


def test_batch_mode_differs_from_per_sample_mode() -> None:
    # Dimension 0 is active in sample 0 only: KL [2, 0] -> per-sample clamp lifts the zero,
    # the batch clamp sees the mean 1.0 > 0.5 and leaves it.
    mean = jnp.array([[2.0], [0.0]])
    logvar = jnp.zeros((2, 1))
    per_sample, _ = kl_loss(mean, logvar, free_bits=0.5)
    batch, _ = kl_loss(mean, logvar, free_bits=0.5, free_bits_mode="batch")
    assert float(per_sample) == pytest.approx((2.0 + 0.5) / 2)
    assert float(batch) == pytest.approx(1.0)


def test_apply_free_bits_by_hand() -> None:
    kl = jnp.array([[0.1, 0.7], [0.0, 2.0]])
    np.testing.assert_allclose(np.asarray(apply_free_bits(kl, 0.5)), [[0.5, 0.7], [0.5, 2.0]])
    np.testing.assert_array_equal(np.asarray(apply_free_bits(kl, 0.0)), np.asarray(kl))


def test_mismatched_mean_and_logvar_shapes_name_both() -> None:
    with pytest.raises(TypeCheckError) as error:
        kl_loss(jnp.zeros((4, 3)), jnp.zeros((4, 2)))
    assert "f32[4,3]" in str(error.value)
    assert "f32[4,2]" in str(error.value)


def test_non_2d_latents_are_rejected() -> None:
    with pytest.raises(TypeCheckError, match=r"f32\[4\]"):
        gaussian_kl(jnp.zeros(4), jnp.zeros(4))


# A few shapes, each compiled once: every new shape would cost a compilation.
shapes = st.sampled_from([(1, 1), (1, 6), (4, 3), (6, 5)])
latents = hnp.arrays(np.float32, shapes, elements=st.floats(-4.0, 4.0, width=32))


@settings(max_examples=60, deadline=None)
@given(mean=latents, data=st.data())
def test_kl_is_non_negative(mean: FloatArray, data: st.DataObject) -> None:
    logvar = data.draw(hnp.arrays(np.float32, mean.shape, elements=st.floats(-4.0, 4.0, width=32)))
    kl = np.asarray(gaussian_kl(jnp.asarray(mean), jnp.asarray(logvar)))
    assert np.all(kl >= -1e-6)


@settings(max_examples=10, deadline=None)
@given(shape=shapes)
def test_kl_is_zero_at_the_standard_normal(shape: tuple[int, ...]) -> None:
    loss, per_sample = kl_loss(jnp.zeros(shape), jnp.zeros(shape))
    assert float(loss) == 0.0
    assert np.all(np.asarray(per_sample) == 0.0)


@settings(max_examples=60, deadline=None)
@given(mean=latents, free_bits=st.floats(0.01, 3.0), data=st.data())
def test_per_sample_free_bits_floor(
    mean: FloatArray, free_bits: float, data: st.DataObject
) -> None:
    logvar = data.draw(hnp.arrays(np.float32, mean.shape, elements=st.floats(-4.0, 4.0, width=32)))
    loss, per_sample = kl_loss(jnp.asarray(mean), jnp.asarray(logvar), free_bits=free_bits)
    floor = mean.shape[1] * free_bits
    assert np.all(np.asarray(per_sample) >= floor * (1 - 1e-6))
    assert float(loss) >= floor * (1 - 1e-6)
