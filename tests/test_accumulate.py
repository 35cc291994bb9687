"""Gradient accumulation: K micro-batches make one update, equal to one step on the whole
batch; the step counter and the KL schedule count updates."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from elbox import Batch, LossFn, StepLike, TrainStep, VAETrainer, VAETrainingConfig, elbo_terms
from elbox.models.equinox import MLPVAE

from .helpers import FEATURES, HIDDEN, LATENT, make_model_and_optimizer, patterns


def _noise_in_the_batch(step: StepLike) -> LossFn:
    """The negative ELBO with the reparameterisation noise taken from the batch, so that a
    batch and its micro-batches draw the same noise for each example."""

    def loss_fn(model: Any, batch: Batch) -> tuple[jax.Array, dict[str, jax.Array]]:
        assert isinstance(batch, dict)
        x, noise = batch["data"], batch["noise"]
        mean, logvar = model.encode(x)
        recon = model.decode(mean + jnp.exp(0.5 * logvar) * noise)
        return elbo_terms(x, recon, mean, logvar, kl_weight=1.0, loss_type="bce_logits")

    return loss_fn


def _batch(seed: int, size: int = 16) -> dict[str, jax.Array]:
    data = jax.random.uniform(jax.random.key(seed), (size, FEATURES))
    return {"data": data, "noise": jax.random.normal(jax.random.key(100 + seed), (size, LATENT))}


def _leaves(tree: Any) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_four_micro_batches_equal_one_step_on_the_whole_batch() -> None:
    model = MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    whole = TrainStep(_noise_in_the_batch, optax.adam(1e-2))
    micro = TrainStep(_noise_in_the_batch, optax.adam(1e-2), accumulate=4)
    one_state = whole.init(model, key=jax.random.key(1))
    micro_state = micro.init(model, key=jax.random.key(1))
    micro_step = jax.jit(micro)
    for seed in range(2):
        one_state, one_metrics = jax.jit(whole)(one_state, _batch(seed))
        micro_state, micro_metrics = micro_step(micro_state, _batch(seed))
        for name in ("loss", "recon_loss", "kl_loss"):
            assert float(micro_metrics[name]) == pytest.approx(float(one_metrics[name]), rel=1e-5)
    assert int(micro_state.step) == int(one_state.step) == 2
    for got, want in zip(_leaves(micro_state.params), _leaves(one_state.params), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(_leaves(micro_state.opt_state), _leaves(one_state.opt_state), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
    # The non-finite guard sees the accumulated update: one bad micro-batch skips it all.
    bad = _batch(5)
    bad["data"] = bad["data"].at[6, 0].set(jnp.nan)
    after, metrics = micro_step(micro_state, bad)
    assert float(metrics["skipped"]) == 1.0
    for got, want in zip(_leaves(after.params), _leaves(micro_state.params), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_step_counter_and_the_schedule_count_updates() -> None:
    config = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10, beta=1.0)
    vae = VAETrainer(*make_model_and_optimizer("equinox"), config, accumulate=2)
    x = np.asarray(patterns(16), np.float32)  # 2 micro-batches of 8
    weights = [float(vae.train_step(x)[1]["kl_weight"]) for _ in range(3)]
    assert weights == pytest.approx([0.0, 0.1, 0.2])
    assert vae.step == 3
    _, fused = vae.train_steps(np.stack([x, x]))
    assert np.asarray(fused["kl_weight"]) == pytest.approx([0.3, 0.4])
    assert vae.step == 5


@pytest.mark.usefixtures("without_hook_checks")
def test_a_batch_that_does_not_split_is_refused() -> None:
    vae = VAETrainer(*make_model_and_optimizer("equinox"), accumulate=4)
    with pytest.raises(ValueError, match="this batch has 15 examples: give batches of a multiple"):
        vae.train_step(np.zeros((15, FEATURES), np.float32))
    with pytest.raises(ValueError, match="accumulate must be >= 1; got 0"):
        VAETrainer(*make_model_and_optimizer("equinox"), accumulate=0)
