"""The exponential moving average of the parameters: its formula, evaluation with it,
validation logs and checkpoints of both sets."""

from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax
import pytest

from elbox import ConstantSchedule, ELBOObjective, TrainStep, VAETrainer
from elbox.core._ema import WeightAverage
from elbox.data import batches
from elbox.models.equinox import MLPVAE
from elbox.training import CheckpointStore, Trainer, load_checkpoint

from .helpers import FEATURES, HIDDEN, LATENT, batch, make_model_and_optimizer, patterns

OBJECTIVE = ELBOObjective(schedule=ConstantSchedule(1.0), loss_type="bce_logits")


def _leaves(tree: Any) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_the_average_equals_a_hand_computation_over_five_steps() -> None:
    decay = 0.3  # the warm-up's (1 + t) / (10 + t) is below it for t < 2.86, then it holds
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2), ema_decay=decay)
    model = MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    state = train_step.init(model, key=jax.random.key(1))
    step = jax.jit(train_step)
    snapshots = [_leaves(state.params)]
    for seed in range(5):
        state, _ = step(state, batch(seed=seed))
        snapshots.append(_leaves(state.params))
    # In float64: the average starts at the initial parameters, then
    # ema <- ema + (1 - d_t) (params_{t+1} - ema) with d_t = min(decay, (1 + t) / (10 + t)).
    expected = [p.astype(np.float64) for p in snapshots[0]]
    decays = [min(decay, (1 + t) / (10 + t)) for t in range(5)]
    assert decays == pytest.approx([0.1, 2 / 11, 0.25, 0.3, 0.3])
    for t, d in enumerate(decays):
        expected = [e + (1 - d) * (p - e) for e, p in zip(expected, snapshots[t + 1], strict=True)]
    for got, want in zip(_leaves(state.ema_params), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # The average is not the parameters themselves.
    assert not np.allclose(_leaves(state.ema_params)[0], snapshots[-1][0])


def test_without_warmup_the_decay_holds_from_the_first_step() -> None:
    average = WeightAverage(0.9, warmup=False)
    assert [float(average.decay_at(t)) for t in (0, 5)] == pytest.approx([0.9, 0.9])
    warm = WeightAverage(0.9)
    assert [float(warm.decay_at(t)) for t in (0, 5, 1000)] == pytest.approx([0.1, 0.4, 0.9])


def test_a_checkpoint_restores_both_sets(tmp_path: Path) -> None:
    model, optimizer = make_model_and_optimizer("equinox")
    vae = VAETrainer(model, optimizer, ema_decay=0.9)
    for seed in range(3):
        vae.train_step(batch(seed=seed))
    with CheckpointStore(tmp_path) as store:
        store.save(3, vae.state, metadata={"epoch": 0})
    fresh_model, fresh_optimizer = make_model_and_optimizer("equinox", seed=5)
    fresh = VAETrainer(fresh_model, fresh_optimizer, ema_decay=0.9)
    with CheckpointStore(tmp_path) as store:
        state, _, _ = store.restore(fresh.state)
    fresh.load_state(state)
    for part in ("params", "ema_params", "opt_state"):
        for got, want in zip(
            _leaves(getattr(fresh.state, part)), _leaves(getattr(vae.state, part)), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    x = batch(seed=9)
    assert float(fresh.evaluate(x, weights="ema")["loss"]) == float(
        vae.evaluate(x, weights="ema")["loss"]
    )
    # load_checkpoint gives both models; without ema_decay the layout does not fit.
    loaded = load_checkpoint(tmp_path, *make_model_and_optimizer("equinox"), ema_decay=0.9)
    assert loaded.ema_model is not None
    np.testing.assert_array_equal(
        np.asarray(loaded.ema_model.encoder.weight), np.asarray(vae.ema_model.encoder.weight)
    )
    np.testing.assert_array_equal(
        np.asarray(loaded.model.encoder.weight), np.asarray(vae.model.encoder.weight)
    )
    with pytest.raises(Exception, match="another ema_decay or precision"):
        load_checkpoint(tmp_path, *make_model_and_optimizer("equinox"))


def test_validation_logs_both_sets_and_nnx_keeps_an_average_too() -> None:
    model, optimizer = make_model_and_optimizer("nnx")
    vae = VAETrainer(model, optimizer, ema_decay=0.5)
    data = batches(np.asarray(patterns(32), np.float32), 16, seed=0)
    history = Trainer(vae, loss_type="bce_logits").fit(data, epochs=1, val_data=data)
    logs = history.epochs[-1]
    assert {"val_neg_elbo", "val_ema_neg_elbo", "val_ema_loss"} <= set(logs)
    assert logs["val_ema_neg_elbo"] != logs["val_neg_elbo"]
    assert vae.ema_model is not vae.model  # NNX: a copy holding the average


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_requests_are_refused() -> None:
    plain = VAETrainer(*make_model_and_optimizer("equinox"))
    with pytest.raises(ValueError, match="weights='ema' needs an average"):
        plain.evaluate(batch(), weights="ema")
    with pytest.raises(ValueError, match="keeps no average of the parameters"):
        _ = plain.ema_model
    with pytest.raises(ValueError, match=r"ema_decay must be a number in \[0, 1\) or None"):
        VAETrainer(*make_model_and_optimizer("equinox"), ema_decay=1.0)
