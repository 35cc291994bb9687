"""The ELBO terms: loss = recon_loss + kl_weight * kl_loss, checked by hand and by NumPy."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from elbox import ELBOObjective, LinearWarmup, elbo_terms


def _f32(a: Any) -> jax.Array:
    return jnp.asarray(a, jnp.float32)


def test_elbo_by_hand() -> None:
    # recon: 4 pixels of (0.5)^2 = 1.0 per sample; KL: 3 dims of mean 1 -> 1.5 per sample.
    x = jnp.ones((2, 4))
    loss, metrics = elbo_terms(x, 0.5 * x, jnp.ones((2, 3)), jnp.zeros((2, 3)), kl_weight=0.5)
    assert {k: float(v) for k, v in metrics.items()} == {
        "loss": 1.75,
        "recon_loss": 1.0,
        "kl_loss": 1.5,
        "kl_weight": 0.5,
    }
    assert float(loss) == 1.75


def test_free_bits_enter_the_loss_and_kl_loss_is_unweighted() -> None:
    x = jnp.zeros((2, 2))
    _, metrics = elbo_terms(
        x, x, jnp.zeros((2, 4)), jnp.zeros((2, 4)), kl_weight=3.0, free_bits=0.25
    )
    assert float(metrics["kl_loss"]) == pytest.approx(1.0)  # 4 dims x 0.25 nats
    assert float(metrics["loss"]) == pytest.approx(3.0)


def test_elbo_matches_numpy_with_bce_logits() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(6, 10))
    logits = rng.normal(size=(6, 10))
    mean, logvar = rng.normal(size=(6, 3)), rng.normal(scale=0.5, size=(6, 3))
    recon = (np.logaddexp(0, logits) - x * logits).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mean**2 - np.exp(logvar))).sum(1).mean()
    loss, metrics = elbo_terms(
        _f32(x), _f32(logits), _f32(mean), _f32(logvar), kl_weight=0.3, loss_type="bce_logits"
    )
    assert float(metrics["recon_loss"]) == pytest.approx(recon, rel=1e-5)
    assert float(metrics["kl_loss"]) == pytest.approx(kl, rel=1e-5)
    assert float(loss) == pytest.approx(recon + 0.3 * kl, rel=1e-5)


def test_objective_takes_the_weight_from_its_schedule_under_jit() -> None:
    objective = ELBOObjective(schedule=LinearWarmup(beta=2.0, warmup_steps=10))
    x = jnp.ones((2, 3))
    z = jnp.zeros((2, 2))
    run = jax.jit(objective.terms)
    weights = [float(run(x, x, z, z, jnp.asarray(s))[1]["kl_weight"]) for s in (0, 5, 20)]
    assert weights == [0.0, 1.0, 2.0]


def test_batch_sizes_must_agree() -> None:
    with pytest.raises(TypeCheckError) as error:
        elbo_terms(
            jnp.zeros((4, 3)),
            jnp.zeros((4, 3)),
            jnp.zeros((5, 2)),
            jnp.zeros((5, 2)),
            kl_weight=1.0,
        )
    assert "f32[5,2]" in str(error.value)
    assert "batch=4" in str(error.value)
