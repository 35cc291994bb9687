"""Data-parallel training on 4 virtual CPU devices equals training on one device.

Run by tests/test_multidevice.py in its own process with
XLA_FLAGS=--xla_force_host_platform_device_count=4, so the rest of the suite keeps one device.
"""

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from elbox import VAETrainingConfig, data_parallel_mesh
from elbox.data import batches
from elbox.training import CheckpointConfig, CheckpointStore, ModelCheckpoint, Trainer

from ..helpers import FRAMEWORKS, Framework, make_trainer, params_of, patterns
from ..test_trainer import count_compiles

CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10, beta=2.0, free_bits=0.1)


@pytest.fixture(autouse=True)
def _four_devices() -> None:
    assert jax.device_count() == 4, "run with XLA_FLAGS=--xla_force_host_platform_device_count=4"


def _global_batches(count: int, size: int = 8) -> list[np.ndarray[Any, Any]]:
    data = np.asarray(patterns(count * size), np.float32)
    rng = np.random.default_rng(0)
    data = np.clip(data + rng.normal(scale=0.1, size=data.shape), 0, 1).astype(np.float32)
    return [data[i * size : (i + 1) * size] for i in range(count)]


def _assert_close(a: Any, b: Any) -> None:
    for x, y in zip(params_of(a), params_of(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sharded_steps_equal_single_device_steps(framework: Framework) -> None:
    single = make_trainer(framework, CONFIG)
    sharded = make_trainer(framework, CONFIG, mesh=data_parallel_mesh())
    for step, batch in enumerate(_global_batches(4)):
        loss_1, metrics_1 = single.train_step(batch)
        loss_4, metrics_4 = sharded.train_step(batch)
        assert float(loss_4) == pytest.approx(float(loss_1), rel=1e-5), step
        for name in metrics_1:
            assert float(metrics_4[name]) == pytest.approx(float(metrics_1[name]), rel=1e-5)
    _assert_close(sharded.model, single.model)
    eval_1 = single.evaluate(_global_batches(1)[0])
    eval_4 = sharded.evaluate(_global_batches(1)[0])
    for name in eval_1:
        assert float(eval_4[name]) == pytest.approx(float(eval_1[name]), rel=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sharded_fused_steps_equal_single_device(framework: Framework) -> None:
    single = make_trainer(framework, CONFIG)
    sharded = make_trainer(framework, CONFIG, mesh=data_parallel_mesh())
    stacked = np.stack(_global_batches(4))
    losses_1, _ = single.train_steps(stacked)
    losses_4, _ = sharded.train_steps(stacked)
    np.testing.assert_allclose(np.asarray(losses_4), np.asarray(losses_1), rtol=1e-5)
    _assert_close(sharded.model, single.model)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_state_is_replicated_and_batches_split(framework: Framework) -> None:
    trainer = make_trainer(framework, CONFIG, mesh=data_parallel_mesh())
    trainer.train_step(_global_batches(1)[0])
    mesh = trainer.mesh
    assert mesh is not None
    for leaf in jax.tree.leaves(trainer.state.params):
        assert leaf.sharding.is_fully_replicated
        assert len(leaf.sharding.device_set) == 4


def test_steps_compile_once_on_the_mesh() -> None:
    trainer = make_trainer("equinox", CONFIG, mesh=data_parallel_mesh())
    data = _global_batches(6)
    trainer.train_step(data[0])
    with count_compiles() as compiles:
        for batch in data[1:]:
            trainer.train_step(batch)
    assert compiles == []


@pytest.mark.parametrize("size", [10, 6, 2])
def test_uneven_batch_is_a_clear_error(size: int) -> None:
    trainer = make_trainer("nnx", CONFIG, mesh=data_parallel_mesh())
    with pytest.raises(
        ValueError,
        match=rf"a batch of {size} examples does not split evenly over the 4 devices of mesh "
        r"axis 'data'; use a batch size divisible by 4",
    ):
        trainer.train_step(np.zeros((size, 12), np.float32))
    assert trainer.step == 0


def test_a_mesh_of_several_axes_needs_the_data_axis() -> None:
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "model"))
    with pytest.raises(ValueError, match="name the one that splits the batch"):
        make_trainer("equinox", CONFIG, mesh=mesh)
    with pytest.raises(ValueError, match="the mesh has no axis 'batch'"):
        make_trainer("equinox", CONFIG, mesh=mesh, data_axis="batch")
    trainer = make_trainer("equinox", CONFIG, mesh=mesh, data_axis="data")
    single = make_trainer("equinox", CONFIG)
    for batch in _global_batches(2):
        trainer.train_step(batch)
        single.train_step(batch)
    _assert_close(trainer.model, single.model)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fit_on_a_mesh_equals_fit_on_one_device(framework: Framework, tmp_path: Path) -> None:
    data = np.concatenate(_global_batches(6))
    single = make_trainer(framework, CONFIG)
    sharded = make_trainer(framework, CONFIG)
    history_1 = Trainer(single, steps_per_dispatch=2).fit(batches(data, 8), epochs=2)
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=tmp_path / "ckpt"))
    history_4 = Trainer(
        sharded, callbacks=[checkpoint], steps_per_dispatch=2, mesh=data_parallel_mesh()
    ).fit(batches(data, 8), epochs=2, val_data=[data[:8]])
    np.testing.assert_allclose(
        history_4.step_metric("loss"), history_1.step_metric("loss"), rtol=1e-5
    )
    _assert_close(sharded.model, single.model)
    # The checkpoint of a sharded run restores onto the mesh, replicated.
    fresh = make_trainer(framework, CONFIG, seed=5, mesh=data_parallel_mesh())
    with CheckpointStore(tmp_path / "ckpt") as store:
        state, _, step = store.restore(fresh.state)
    fresh.load_state(state)
    assert step == fresh.step == 12
    _assert_close(fresh.model, sharded.model)
    replicated = NamedSharding(data_parallel_mesh(), PartitionSpec())
    assert all(leaf.sharding == replicated for leaf in jax.tree.leaves(fresh.state.params))


def test_a_jax_array_already_split_is_used_as_it_is() -> None:
    mesh = data_parallel_mesh()
    trainer = make_trainer("equinox", CONFIG, mesh=mesh)
    batch = jax.device_put(
        jnp.asarray(_global_batches(1)[0]), NamedSharding(mesh, PartitionSpec("data"))
    )
    loss, _ = trainer.train_step(batch)
    assert np.isfinite(float(loss))


def test_a_stateful_model_with_accumulation_and_an_average_on_the_mesh() -> None:
    # BatchNorm's statistics over a batch split across devices, two micro-batches per
    # update, and the average of the weights: the same as on one device. (SGD: adam's
    # normalisation would magnify the rounding of near-zero gradients summed in another
    # order.)
    from elbox import VAETrainer

    from ..test_stateful_equinox import bn_model

    def trainer(mesh: Mesh | None) -> VAETrainer[Any]:
        return VAETrainer(
            bn_model(),
            optax.sgd(0.1),
            CONFIG,
            ema_decay=0.5,
            accumulate=2,
            mesh=mesh,
        )

    single, sharded = trainer(None), trainer(data_parallel_mesh())
    for batch in _global_batches(3, size=16):
        single.train_step(batch)
        sharded.train_step(batch)
    for part in ("params", "model_state", "ema_params"):
        left = jax.tree.leaves(getattr(sharded.state, part))
        right = jax.tree.leaves(getattr(single.state, part))
        assert len(left) == len(right) > 0
        for x, y in zip(left, right, strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
