"""Trainer.fit: epochs, logs, validation, data sources, fused dispatch, the make_loss_fn path."""

import math
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import pytest

from elbox import VAETrainingConfig
from elbox.data import batches
from elbox.training import Callback, Trainer, TrainingLoop

from .helpers import FRAMEWORKS, Framework, make_trainer, params_of, patterns
from .test_trainer import count_compiles

CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=20, beta=1.0, free_bits=0.1)


def _data(n: int = 64) -> npt.NDArray[Any]:
    return np.asarray(patterns(n), dtype=np.float32)


class Recorder(Callback):
    """Records every hook call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        self.calls.append(("fit_start",))

    def on_epoch_start(self, trainer: TrainingLoop, epoch: int) -> None:
        self.calls.append(("epoch_start", epoch))

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        self.calls.append(("step", step, dict(metrics)))

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_epoch_complete(
        self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]
    ) -> None:
        self.calls.append(("epoch_complete", epoch))

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        self.calls.append(("fit_end",))

    def steps(self) -> list[int]:
        return [call[1] for call in self.calls if call[0] == "step"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fit_logs_epoch_means_of_step_metrics(framework: Framework) -> None:
    vae = make_trainer(framework, CONFIG)
    recorder = Recorder()
    history = Trainer(vae, callbacks=[recorder]).fit(batches(_data(), 16), epochs=3)
    assert len(history.epochs) == 3
    assert history.num_steps == 12
    assert recorder.steps() == list(range(12))
    for epoch, logs in enumerate(history.epochs):
        rows = [i for i, e in enumerate(history.steps["epoch"]) if e == epoch]
        assert len(rows) == 4
        for name in ("loss", "recon_loss", "kl_loss", "kl_weight"):
            expected = np.mean([history.steps[name][i] for i in rows])
            assert logs[name] == pytest.approx(expected, rel=1e-6)
        assert logs["epoch"] == epoch
        assert logs["step"] == 4 * (epoch + 1)
    # The linear warm-up over 20 steps: the weight at step 5 is 0.25.
    assert history.steps["kl_weight"][5] == pytest.approx(0.25)
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]
    kinds = [call[0] for call in recorder.calls]
    assert kinds[0] == "fit_start"
    assert kinds[-1] == "fit_end"
    assert kinds.count("epoch_end") == kinds.count("epoch_complete") == 3


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_validation_metrics(framework: Framework) -> None:
    vae = make_trainer(framework, CONFIG)
    val = _data(40)
    history = Trainer(vae).fit(
        batches(_data(), 16), epochs=1, val_data=batches(val, 16, shuffle=False, drop_last=False)
    )
    logs = history.epochs[0]
    assert {"val_loss", "val_recon_loss", "val_kl_loss", "val_neg_elbo"} <= set(logs)
    assert "val_kl_weight" not in logs
    # The val metrics are the sample-weighted means of VAETrainer.evaluate over the batches.
    parts = [vae.evaluate(val[i : i + 16]) for i in range(0, 40, 16)]
    sizes = [16, 16, 8]
    for name in ("loss", "recon_loss", "kl_loss", "neg_elbo"):
        expected = sum(n * float(m[name]) for n, m in zip(sizes, parts, strict=True)) / 40
        assert logs[f"val_{name}"] == pytest.approx(expected, rel=1e-5)


def test_neg_elbo_is_unannealed_and_without_free_bits() -> None:
    vae = make_trainer("equinox", VAETrainingConfig(kl_warmup_steps=100, beta=4.0, free_bits=5.0))
    metrics = vae.evaluate(_data(16), step=10)
    # With free bits at 5 nats over 3 dimensions, kl_loss is at least 15; neg_elbo uses the
    # raw KL, far below that for an untrained encoder. Its reconstruction term is the
    # Gaussian's normalised one: the squared error plus (D/2) log(pi), D = 12.
    assert float(metrics["kl_loss"]) >= 15.0
    constant = 0.5 * 12 * math.log(math.pi)
    raw_kl = float(metrics["neg_elbo"]) - float(metrics["recon_loss"]) - constant
    assert 0.0 <= raw_kl < 15.0
    assert float(metrics["kl_weight"]) == pytest.approx(0.4)


def test_training_data_forms() -> None:
    data = _data()
    as_list = [data[i : i + 16] for i in range(0, 64, 16)]
    results = []
    for source in (
        as_list,
        tuple(as_list),
        lambda epoch: as_list[epoch:] + as_list[:epoch],
        batches(data, 16, shuffle=False),
        [{"image": b} for b in as_list],
    ):
        history = Trainer(make_trainer("equinox", CONFIG)).fit(source, epochs=2)
        assert history.num_steps == 8
        results.append(history.epochs[0]["loss"])
    assert results[0] == results[1] == results[3] == results[4]  # same batches, same order


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (iter([np.zeros((4, 12), np.float32)]), "is an iterator, which one epoch would exhaust"),
        (np.zeros((4, 12), np.float32), "is a single array; pass batches"),
        (42, "must be an iterable of batches or a callable"),
    ],
)
@pytest.mark.usefixtures("without_hook_checks")
def test_bad_training_data(source: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Trainer(make_trainer("equinox")).fit(source, epochs=1)


@pytest.mark.parametrize("empty", [[], lambda epoch: []])
def test_empty_training_data_fails_before_any_step(empty: Any) -> None:
    vae = make_trainer("equinox")
    recorder = Recorder()
    with pytest.raises(ValueError, match="train_data yielded no batches for epoch 0"):
        Trainer(vae, callbacks=[recorder]).fit(empty, epochs=1)
    assert vae.step == 0
    assert recorder.calls == []


def test_empty_validation_data() -> None:
    with pytest.raises(ValueError, match="val_data yielded no batches"):
        Trainer(make_trainer("equinox")).fit(batches(_data(), 16), epochs=1, val_data=[])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
@pytest.mark.usefixtures("without_hook_checks")
def test_bad_epochs(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"epochs must be (an integer )?>= 1"):
        Trainer(make_trainer("equinox")).fit(batches(_data(), 16), epochs=bad)


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_trainer_arguments() -> None:
    with pytest.raises(TypeError, match="Trainer drives an elbox VAETrainer"):
        Trainer(object())  # type: ignore[arg-type]  # deliberately bad
    with pytest.raises(ValueError, match="steps_per_dispatch must be >= 1; got 0"):
        Trainer(make_trainer("equinox"), steps_per_dispatch=0)
    with pytest.raises(TypeError, match=r"callbacks must be elbox\.training\.Callback instances"):
        Trainer(make_trainer("equinox"), callbacks=[print])  # type: ignore[list-item]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fused_dispatch_matches_single_steps(framework: Framework) -> None:
    single, fused = make_trainer(framework, CONFIG), make_trainer(framework, CONFIG)
    data = batches(_data(80), 8)  # 10 batches: one fused dispatch of 4, then 4 + 2 singles
    recorder = Recorder()
    history_single = Trainer(single).fit(data, epochs=2)
    history_fused = Trainer(fused, callbacks=[recorder], steps_per_dispatch=4).fit(data, epochs=2)
    assert recorder.steps() == list(range(20))
    np.testing.assert_allclose(
        history_fused.step_metric("loss"), history_single.step_metric("loss"), rtol=1e-5
    )
    for a, b in zip(params_of(fused.model), params_of(single.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fused_dispatch_compiles_once_per_shape() -> None:
    vae = make_trainer("equinox", CONFIG)
    trainer = Trainer(vae, steps_per_dispatch=4)
    data = batches(_data(64), 8)  # 8 batches: two full dispatches per epoch
    trainer.fit(data, epochs=1)
    with count_compiles() as compiles:
        trainer.fit(data, epochs=3)
    assert compiles == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_spec_make_loss_fn_pattern_compiles_once(framework: Framework) -> None:
    vae = make_trainer(framework, CONFIG)

    # --- the spec's "Integration with Base Trainer" pattern ---
    def make_loss_fn(step: Any) -> Any:
        return vae.create_loss_fn(step=step)

    recorder = Recorder()
    trainer = Trainer.from_loss_fn(
        vae.model, _optimizer_of(framework, vae), make_loss_fn, callbacks=[recorder]
    )
    data = batches(_data(), 16)
    trainer.fit(data, epochs=1)
    with count_compiles() as compiles:
        history = trainer.fit(data, epochs=3)
    assert compiles == []
    # The KL weight followed the step (steps 4 to 15 in this second fit): make_loss_fn was
    # called with the traced step.
    assert history.steps["step"][:4] == [4, 5, 6, 7]
    assert history.steps["kl_weight"][:4] == pytest.approx([0.2, 0.25, 0.3, 0.35])
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]


def _optimizer_of(framework: Framework, vae: Any) -> Any:
    import optax
    from flax import nnx

    if framework == "nnx":
        return nnx.Optimizer(vae.model, optax.adam(1e-2), wrt=nnx.Param)
    return optax.adam(1e-2)


def test_loss_fn_trainer_takes_batches_with_labels() -> None:
    import equinox as eqx
    import optax

    vae = make_trainer("equinox", CONFIG)

    def make_loss_fn(step: Any) -> Any:
        vae_loss = vae.create_loss_fn(step=step)

        def loss_fn(model: eqx.Module, batch: Mapping[str, jax.Array]) -> Any:
            loss, metrics = vae_loss(model, batch["image"])
            return loss, {**metrics, "mean_label": jnp.mean(batch["label"])}

        return loss_fn

    data = [
        {"image": b, "label": jnp.full((16,), float(i))} for i, b in enumerate(np.split(_data(), 4))
    ]
    history = Trainer.from_loss_fn(vae.model, optax.adam(1e-2), make_loss_fn).fit(
        data, epochs=1, val_data=data[:1]
    )
    assert history.steps["mean_label"] == [0.0, 1.0, 2.0, 3.0]
    assert history.epochs[0]["val_mean_label"] == 0.0


def test_stop_request_from_a_step_callback() -> None:
    class StopAtStep(Callback):
        def on_step_end(
            self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]
        ) -> None:
            if step == 5:
                trainer.request_stop("enough")

    vae = make_trainer("equinox", CONFIG)
    history = Trainer(vae, callbacks=[StopAtStep()]).fit(batches(_data(), 16), epochs=10)
    assert history.stop_reason == "enough"
    assert len(history.epochs) == 2  # stopped inside the second epoch, which is still logged
    assert 6 <= vae.step <= 8  # metrics are read a couple of steps behind the device


def _generator(epoch: int) -> Iterator[npt.NDArray[Any]]:
    data = _data()
    yield from (data[i : i + 16] for i in range(0, 64, 16))


def test_callable_source_gets_the_epoch() -> None:
    seen: list[int] = []

    def source(epoch: int) -> Iterator[npt.NDArray[Any]]:
        seen.append(epoch)
        return _generator(epoch)

    Trainer(make_trainer("equinox")).fit(source, epochs=3)
    assert seen == [0, 1, 2]
