"""Non-finite steps: skipped bit for bit by default, raised or applied on request, and a fit
that stops after too many in a row with its last checkpoint intact."""

import io
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import Array, Float

from elbox import (
    LossFnTrainer,
    NonFiniteStepError,
    TrainStep,
    VAETrainer,
    VAETrainingConfig,
    load_checkpoint,
)
from elbox.data import batches
from elbox.training import CheckpointConfig, ModelCheckpoint, ProgressBar, Trainer

from .helpers import (
    FRAMEWORKS,
    Framework,
    batch,
    make_model_and_optimizer,
    make_trainer,
    params_of,
    patterns,
)

CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10)


def _nan_batch() -> jax.Array:
    return batch().at[3, 2].set(jnp.nan)


def _state_leaves(trainer: Any) -> list[np.ndarray[Any, Any]]:
    state = trainer.state
    return [np.asarray(leaf) for leaf in jax.tree.leaves((state.params, state.opt_state))]


def _assert_bitwise_equal(a: list[np.ndarray[Any, Any]], b: list[np.ndarray[Any, Any]]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_nan_batch_is_skipped_bit_for_bit(framework: Framework) -> None:
    trainer = make_trainer(framework, CONFIG)
    trainer.train_step(batch())
    before = _state_leaves(trainer)
    loss, metrics = trainer.train_step(_nan_batch())
    assert np.isnan(float(loss))
    assert float(metrics["skipped"]) == 1.0
    _assert_bitwise_equal(_state_leaves(trainer), before)
    assert trainer.step == 2  # the counter still advances
    assert int(trainer.state.skipped) == 1
    # The next good batch trains normally.
    _, metrics = trainer.train_step(batch(seed=1))
    assert float(metrics["skipped"]) == 0.0
    after = _state_leaves(trainer)
    assert any(x.tobytes() != y.tobytes() for x, y in zip(after, before, strict=True))
    assert all(np.isfinite(leaf).all() for leaf in after if leaf.dtype.kind == "f")
    assert int(trainer.state.skipped) == 1


def test_nnx_optimizer_step_counts_applied_updates_only() -> None:
    model, optimizer = make_model_and_optimizer("nnx")
    trainer = VAETrainer(model, optimizer, CONFIG)
    trainer.train_step(batch())
    trainer.train_step(_nan_batch())
    trainer.train_step(batch(seed=1))
    assert int(optimizer.step[...]) == 2
    assert trainer.step == 3


class _Scalar(eqx.Module):
    w: Float[Array, ""]

    def __call__(self, x: Any, *, key: Any = None) -> Any:
        return x


def _sqrt_loss(step: Any) -> Any:
    # sqrt(w - b) at w == b: the loss is 0, its gradient +inf (an overflow, not a NaN).
    def loss_fn(model: _Scalar, b: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        loss = jnp.sqrt(model.w - b[0])
        return loss, {"loss": loss}

    return loss_fn


def test_an_overflowing_gradient_with_a_finite_loss_is_skipped() -> None:
    trainer = LossFnTrainer(_Scalar(jnp.asarray(1.0)), optax.sgd(0.1), _sqrt_loss)
    loss, metrics = trainer.train_step(jnp.asarray([1.0]))
    assert float(loss) == 0.0
    assert float(metrics["skipped"]) == 1.0
    assert float(trainer.model.w) == 1.0
    _, metrics = trainer.train_step(jnp.asarray([0.0]))  # gradient 0.5: trains
    assert float(metrics["skipped"]) == 0.0
    assert float(trainer.model.w) == pytest.approx(1.0 - 0.1 * 0.5)


def test_raise_names_the_step_and_the_loss() -> None:
    trainer = make_trainer("equinox", CONFIG, nonfinite="raise")
    trainer.train_step(batch())
    before = _state_leaves(trainer)
    with pytest.raises(
        NonFiniteStepError, match=r"^step 1: the loss was nan; the step was not"
    ) as error:
        trainer.train_step(_nan_batch())
    assert error.value.steps == [1]
    _assert_bitwise_equal(_state_leaves(trainer), before)
    assert trainer.step == 2


def test_raise_names_a_gradient() -> None:
    trainer = LossFnTrainer(
        _Scalar(jnp.asarray(1.0)), optax.sgd(0.1), _sqrt_loss, nonfinite="raise"
    )
    message = r"step 0: the loss was finite \(0\) but a gradient was not"
    with pytest.raises(NonFiniteStepError, match=message):
        trainer.train_step(jnp.asarray([1.0]))
    assert float(trainer.model.w) == 1.0


def test_raise_in_fused_steps_names_the_first_bad_one() -> None:
    trainer = make_trainer("equinox", CONFIG, nonfinite="raise")
    stacked = jnp.stack([batch(), batch(seed=1), _nan_batch(), batch(seed=2)])
    with pytest.raises(NonFiniteStepError, match=r"^step 2: the loss was nan") as error:
        trainer.train_steps(stacked)
    assert error.value.steps == [2]
    assert trainer.step == 4


def test_apply_is_the_unguarded_update() -> None:
    trainer = make_trainer("equinox", CONFIG, nonfinite="apply")
    _, metrics = trainer.train_step(_nan_batch())
    assert "skipped" not in metrics
    assert all(np.isnan(leaf).any() for leaf in params_of(trainer.model)[:1])


def test_pure_step_skips_under_vmap_seed_by_seed() -> None:
    vae = make_trainer("equinox", CONFIG)
    train_step = TrainStep(vae.objective(), optax.adam(1e-2))
    states = [train_step.init(vae.model, key=jax.random.key(s)) for s in (0, 1)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    new, metrics = jax.vmap(train_step)(stacked, jnp.stack([batch(), _nan_batch()]))
    np.testing.assert_array_equal(np.asarray(metrics["skipped"]), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(new.skipped), [0, 1])
    np.testing.assert_array_equal(np.asarray(new.step), [1, 1])
    second = jax.tree.map(lambda leaf: leaf[1], new)
    for x, y in zip(jax.tree.leaves(second.params), jax.tree.leaves(states[1].params), strict=True):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


# -- the training loop ----------------------------------------------------------------------


def _data(n: int = 64) -> np.ndarray[Any, Any]:
    return np.asarray(patterns(n), dtype=np.float32)


def _poisoned_from(epoch: int) -> Any:
    def source(e: int) -> list[np.ndarray[Any, Any]]:
        data = _data()
        if e >= epoch:
            data = data.copy()
            data[:, 0] = np.nan
        return list(batches(data, 16).for_epoch(e))

    return source


def test_fit_counts_skipped_steps_in_the_epoch_logs() -> None:
    def source(epoch: int) -> list[np.ndarray[Any, Any]]:
        chunks = list(batches(_data(), 16).for_epoch(epoch))
        chunks[1] = chunks[1].copy()
        chunks[1][0, 0] = np.nan
        return chunks

    stream = io.StringIO()
    trainer = Trainer(
        make_trainer("equinox", CONFIG),
        callbacks=[ProgressBar(stream=stream, force_plain=True)],
    )
    history = trainer.fit(source, epochs=2)
    assert [logs["skipped"] for logs in history.epochs] == [1, 1]
    assert history.steps["skipped"] == [0.0, 1.0, 0.0, 0.0] * 2
    # The means leave the skipped step (whose loss is NaN) out.
    assert np.isfinite(history.epochs[0]["loss"])
    assert history.epochs[0]["loss"] == pytest.approx(
        np.mean([history.steps["loss"][i] for i in (0, 2, 3)])
    )
    assert "skipped=1" in stream.getvalue()


def test_fit_stops_after_consecutive_skips_and_keeps_the_last_checkpoint(
    tmp_path: Path,
) -> None:
    vae = make_trainer("equinox", CONFIG)
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=tmp_path / "checkpoints"))
    trainer = Trainer(vae, callbacks=[checkpoint], max_consecutive_skips=3)
    with pytest.raises(NonFiniteStepError) as error:
        trainer.fit(_poisoned_from(epoch=1), epochs=3)
    message = str(error.value)
    assert message.startswith(
        "training stopped: 3 consecutive steps (steps 4 to 6) were skipped because their "
        "loss or gradients were not finite (max_consecutive_skips=3)"
    )
    assert error.value.steps == [4, 5, 6]
    # The checkpoint of epoch 0 (step 4) is the last one, and it holds the model as it is
    # now: the skipped steps changed nothing.
    model, optimizer = make_model_and_optimizer("equinox")
    loaded = load_checkpoint(tmp_path / "checkpoints", model, optimizer)
    assert loaded.step == 4
    assert loaded.epoch == 0
    for a, b in zip(params_of(loaded.model), params_of(vae.model), strict=True):
        assert a.tobytes() == b.tobytes()


def test_skips_below_the_limit_let_the_fit_finish() -> None:
    history = Trainer(make_trainer("equinox", CONFIG), max_consecutive_skips=5).fit(
        _poisoned_from(epoch=1), epochs=2
    )
    assert [logs["skipped"] for logs in history.epochs] == [0, 4]


@pytest.mark.usefixtures("without_hook_checks")
def test_max_consecutive_skips_is_checked() -> None:
    with pytest.raises(ValueError, match="max_consecutive_skips must be >= 1; got 0"):
        Trainer(make_trainer("equinox"), max_consecutive_skips=0)
