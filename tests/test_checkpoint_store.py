"""CheckpointStore: exact round trips, retention, damaged folders and clear errors."""

import errno
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import orbax.checkpoint as ocp
import pytest

from elbox import TrainState
from elbox.training import CheckpointError, CheckpointStore

from .helpers import FRAMEWORKS, Framework, as_float, batch, make_trainer

ROOT = Path(__file__).resolve().parents[1]


def tiny_state(
    value: float = 0.0,
    *,
    shape: tuple[int, ...] = (3,),
    dtype: Any = jnp.float32,
    step: int = 0,
) -> TrainState:
    """A small hand-made state: one parameter array, an optimizer array, step and key."""
    return TrainState(
        params={"w": jnp.full(shape, value, dtype=dtype)},
        opt_state=(jnp.arange(2, dtype=jnp.int32) + step,),
        step=jnp.asarray(step, dtype=jnp.int32),
        key=jax.random.key(step),
    )


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def raw_leaves(tree: Any) -> list[npt.NDArray[Any]]:
    """The leaves as NumPy arrays, PRNG keys as their key data."""
    return [
        np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
        for leaf in jax.tree.leaves(tree)
    ]


def assert_bit_equal(a: Any, b: Any) -> None:
    """Same tree structure, and every leaf the same shape, dtype and bytes."""
    a_def: jax.tree_util.PyTreeDef = jax.tree.structure(a)
    b_def: jax.tree_util.PyTreeDef = jax.tree.structure(b)
    assert a_def == b_def
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert _is_key(x) == _is_key(y)
        if _is_key(x):
            assert jax.random.key_impl(x) == jax.random.key_impl(y)
    for x, y in zip(raw_leaves(a), raw_leaves(b), strict=True):
        assert (x.dtype, x.shape) == (y.dtype, y.shape)
        assert x.tobytes() == y.tobytes()


def visible_steps(folder: Path) -> list[int]:
    """The step folders on disk (not orbax's list): what retention really left."""
    return sorted(int(entry.name) for entry in folder.iterdir() if entry.name.isdigit())


def damage(folder: Path, step: int, how: str = "truncate") -> None:
    """Damage a checkpoint as a failing disk or a stray `rm` would."""
    step_dir = folder / str(step)
    if how == "truncate":  # every file of the arrays cut to half its length
        for path in (step_dir / "state").rglob("*"):
            if path.is_file():
                os.truncate(path, path.stat().st_size // 2)
    elif how == "delete_arrays":
        shutil.rmtree(step_dir / "state" / "d")
    elif how == "delete_record":
        shutil.rmtree(step_dir / "record")
    elif how == "flip_a_bit":  # same size, one bit changed: only a checksum sees it
        data = max((p for p in (step_dir / "state").rglob("*") if p.is_file()), key=os.path.getsize)
        content = bytearray(data.read_bytes())
        content[len(content) // 2] ^= 1
        data.write_bytes(bytes(content))
    else:
        raise AssertionError(how)


# -- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_round_trip_is_exact_and_training_continues_identically(
    framework: Framework, tmp_path: Path
) -> None:
    x = batch(8)
    trainer = make_trainer(framework)
    trainer.train_step(x)
    trainer.train_step(x)
    saved = trainer.state
    with CheckpointStore(tmp_path) as store:
        store.save(2, saved, metadata={"epoch": 1})
    # The original goes on; the store must hold the state of step 2, not a later one.
    continued = [as_float(trainer.train_step(x)[0]) for _ in range(2)]

    fresh = make_trainer(framework, seed=1)  # other initial weights and another key
    with CheckpointStore(tmp_path) as store:
        restored, metadata, step = store.restore(fresh.state)
    assert (step, metadata) == (2, {"epoch": 1})
    assert_bit_equal(restored, saved)
    fresh.load_state(restored)
    assert fresh.step == 2
    assert_bit_equal(fresh.state, saved)
    assert jax.random.key_data(fresh.key).tolist() == jax.random.key_data(saved.key).tolist()
    resumed = [as_float(fresh.train_step(x)[0]) for _ in range(2)]
    assert resumed == continued


def test_keys_inside_params_round_trip(tmp_path: Path) -> None:
    keys = jax.random.split(jax.random.key(3, impl="rbg"), 4)
    state = TrainState(
        params={"rng": keys, "w": jnp.ones((2, 2), jnp.bfloat16)},
        opt_state=None,
        step=jnp.asarray(7, jnp.int32),
        key=jax.random.key(5),
    )
    like = TrainState(
        params={
            "rng": jax.random.split(jax.random.key(0, impl="rbg"), 4),
            "w": jnp.zeros((2, 2), jnp.bfloat16),
        },
        opt_state=None,
        step=jnp.asarray(0, jnp.int32),
        key=jax.random.key(0),
    )
    with CheckpointStore(tmp_path) as store:
        store.save(7, state, metadata={})
        restored, _, _ = store.restore(like)
    assert_bit_equal(restored, state)
    assert str(jax.random.key_impl(restored.params["rng"])) == "rbg"


def test_metadata_round_trips_exactly_through_json(tmp_path: Path) -> None:
    metadata = {
        "epoch": 3,
        "config": {"lr": 0.1, "betas": [0.9, 0.999], "name": "vae-é", "tiny": 1e-300},
        "callbacks": {"early_stopping": {"best": -0.0, "wait": 0, "best_score": None}},
        "history": [{"loss": 1.25, "val_loss": 2.0 / 3.0}, {"loss": math.inf}],
        "flags": [True, False, None],
        "big": 2**70,
    }
    with CheckpointStore(tmp_path) as store:
        store.save(0, tiny_state(), metadata=metadata)
        _, restored, _ = store.restore(tiny_state(1.0))
    assert restored == metadata
    assert repr(restored) == repr(metadata)  # bools stay bools, ints ints, -0.0 keeps its sign


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"betas": (0.9, 0.999)}, r"metadata\['betas'\] is a tuple"),
        ({"by_epoch": {1: 0.5}}, r"metadata\['by_epoch'\] has the key 1"),
        ({"lr": np.float32(0.1)}, r"metadata\['lr'\] is a float32"),
    ],
)
def test_metadata_json_would_change_is_refused(
    tmp_path: Path, metadata: dict[str, Any], message: str
) -> None:
    with CheckpointStore(tmp_path) as store, pytest.raises(TypeError, match=message):
        store.save(0, tiny_state(), metadata=metadata)
    assert visible_steps(tmp_path) == []


def test_saving_a_step_again_replaces_it(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(10, tiny_state(1.0), metadata={"n": 1})
        store.save(10, tiny_state(2.0), metadata={"n": 2})
        restored, metadata, step = store.restore(tiny_state())
        assert store.steps() == [10]
    assert (step, metadata) == (10, {"n": 2})
    assert restored.params["w"].tolist() == [2.0, 2.0, 2.0]


# -- retention ------------------------------------------------------------------------


def test_retention_keeps_latest_and_best_min(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, monitor="val_loss", mode="min", save_top_k=1, keep_latest=2)
    # (step, val_loss, steps kept afterwards): the 2 newest, plus the lowest val_loss.
    plan: list[tuple[int, float | None, list[int]]] = [
        (10, 0.5, [10]),
        (20, 0.3, [10, 20]),
        (30, 0.4, [20, 30]),
        (40, None, [20, 30, 40]),  # no metric: kept only while among the newest
        (50, 0.35, [20, 40, 50]),
        (60, 0.1, [50, 60]),
        (70, 0.9, [60, 70]),
        (80, None, [60, 70, 80]),
    ]
    for step, loss, kept in plan:
        metrics = None if loss is None else {"val_loss": loss, "loss": 9.0}
        store.save(step, tiny_state(step=step), metadata={}, metrics=metrics)
        assert store.steps() == kept
        assert visible_steps(tmp_path) == kept
    assert (store.latest_step(), store.best_step()) == (80, 60)
    store.close()

    # Reopened, the store reads the metrics back from disk and ranks as before.
    with CheckpointStore(
        tmp_path, monitor="val_loss", mode="min", save_top_k=1, keep_latest=2
    ) as store:
        assert (store.steps(), store.best_step()) == ([60, 70, 80], 60)
        state, _, step = store.restore(tiny_state(), which="best")
        assert step == 60
        assert state.opt_state[0].tolist() == [60, 61]
        store.save(90, tiny_state(step=90), metadata={}, metrics={"val_loss": 0.05})
        assert store.steps() == [80, 90]
        assert store.best_step() == 90
    # A plain store (no monitor) ranks by the monitor and mode the checkpoints recorded.
    with CheckpointStore(tmp_path) as plain:
        assert plain.best_step() == 90


def test_retention_max_mode(tmp_path: Path) -> None:
    plan: list[tuple[int, float | None, list[int]]] = [
        (1, 0.5, [1]),
        (2, 0.7, [1, 2]),
        (3, 0.6, [2, 3]),
        (4, 0.4, [2, 3, 4]),
        (5, None, [2, 3, 5]),
        (6, math.nan, [2, 3, 6]),  # NaN ranks nowhere
    ]
    with CheckpointStore(tmp_path, monitor="acc", mode="max", save_top_k=2, keep_latest=1) as store:
        for step, acc, kept in plan:
            metrics = None if acc is None else {"acc": acc}
            store.save(step, tiny_state(step=step), metadata={}, metrics=metrics)
            assert store.steps() == kept
        assert (store.latest_step(), store.best_step()) == (6, 2)


def test_save_top_k_none_keeps_every_checkpoint_with_the_metric(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path, monitor="val_loss", keep_latest=1) as store:
        for step, loss in [(1, 0.5), (2, None), (3, 0.4), (4, 0.7), (5, None)]:
            metrics = None if loss is None else {"val_loss": loss}
            store.save(step, tiny_state(step=step), metadata={}, metrics=metrics)
        assert store.steps() == [1, 3, 4, 5]
        assert store.best_step() == 3


def test_without_monitor_only_the_latest_are_kept(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path, keep_latest=3) as store:
        for step in range(1, 7):
            store.save(step, tiny_state(step=step), metadata={}, metrics={"val_loss": 1.0 / step})
        assert store.steps() == visible_steps(tmp_path) == [4, 5, 6]
        assert (store.latest_step(), store.best_step()) == (6, None)
        with pytest.raises(CheckpointError, match=r"no best checkpoint .*no monitor is set"):
            store.restore(tiny_state(), which="best")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "median"}, "mode must be 'min' or 'max'"),
        ({"keep_latest": 0}, "keep_latest must be an int >= 1"),
        ({"monitor": "val_loss", "save_top_k": -1}, "save_top_k must be None or an int >= 0"),
        ({"save_top_k": 2}, "save_top_k ranks checkpoints by a metric: it needs monitor"),
    ],
)
def test_invalid_settings_are_refused(
    tmp_path: Path, kwargs: dict[str, Any], message: str, without_hook_checks: None
) -> None:
    with pytest.raises(ValueError, match=message):
        CheckpointStore(tmp_path, **kwargs)


# -- damaged folders and errors -------------------------------------------------------


@pytest.mark.parametrize("how", ["truncate", "delete_arrays", "delete_record"])
def test_damaged_latest_is_set_aside_on_opening_with_one_warning(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Missing or truncated files show in the sizes the manifest lists: the store moves the
    # step aside as it opens (orbax could not open a folder holding it) and says so.
    with CheckpointStore(tmp_path, keep_latest=3) as store:
        for step in (10, 20, 30):
            store.save(step, tiny_state(float(step), step=step), metadata={"step": step})
    damage(tmp_path, 30, how)
    with (
        warnings.catch_warnings(record=True) as caught,
        caplog.at_level(logging.WARNING),
    ):
        warnings.simplefilter("always")
        with CheckpointStore(tmp_path, keep_latest=3) as store:
            assert store.steps() == [10, 20]
            state, metadata, step = store.restore(tiny_state())
    assert len(caught) == 1
    assert caught[0].category is RuntimeWarning
    text = str(caught[0].message)
    assert text.startswith(f"checkpoint at step 30 in {tmp_path} is damaged (")
    assert text.endswith(f"); moved it to {tmp_path / '.damaged' / '30'}")
    assert (tmp_path / ".damaged" / "30").is_dir()
    assert (step, metadata) == (20, {"step": 20})
    assert_bit_equal(state, tiny_state(20.0, step=20))
    assert [record for record in caplog.records if record.name == "absl"] == []


def test_altered_latest_falls_back_on_restore_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A flipped bit keeps every size: only the digests, checked on restore, see it.
    with CheckpointStore(tmp_path, keep_latest=3) as store:
        for step in (10, 20, 30):
            store.save(step, tiny_state(float(step), step=step), metadata={"step": step})
    damage(tmp_path, 30, "flip_a_bit")
    with (
        CheckpointStore(tmp_path, keep_latest=3) as store,
        warnings.catch_warnings(record=True) as caught,
        caplog.at_level(logging.WARNING),
    ):
        warnings.simplefilter("always")
        state, metadata, step = store.restore(tiny_state())
    assert len(caught) == 1
    assert caught[0].category is RuntimeWarning
    text = str(caught[0].message)
    assert text.startswith(f"checkpoint at step 30 in {tmp_path} is unreadable (")
    assert text.endswith("); falling back to step 20")
    assert (step, metadata) == (20, {"step": 20})
    assert state.params["w"].tolist() == [20.0, 20.0, 20.0]
    assert_bit_equal(state, tiny_state(20.0, step=20))
    # orbax's own error logs are kept off stderr: the warning says it all.
    assert [record for record in caplog.records if record.name == "absl"] == []


def test_damage_is_named_in_the_error(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(10, tiny_state(step=10), metadata={})
        metadata_file = tmp_path / "10" / "state" / "_METADATA"
        size = metadata_file.stat().st_size
        os.truncate(metadata_file, 5)
        with pytest.raises(
            CheckpointError,
            match=rf"step 10 .* \(state/_METADATA has 5 bytes where {size} were written\)$",
        ):
            store.restore(tiny_state(), which=10)


def test_a_checkpoint_without_its_file_list_is_read_unchecked(tmp_path: Path) -> None:
    # A process killed between orbax's commit and the listing leaves a complete checkpoint.
    with CheckpointStore(tmp_path) as store:
        store.save(10, tiny_state(1.5, step=10), metadata={"ok": True})
    (tmp_path / "10" / "elbox-manifest.json").unlink()
    with CheckpointStore(tmp_path) as store:
        state, metadata, step = store.restore(tiny_state())
    assert (step, metadata) == (10, {"ok": True})
    assert_bit_equal(state, tiny_state(1.5, step=10))


def test_all_damaged_raises_listing_the_steps_tried(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(10, tiny_state(step=10), metadata={})
        store.save(20, tiny_state(step=20), metadata={})
    damage(tmp_path, 10, "flip_a_bit")
    damage(tmp_path, 20, "flip_a_bit")
    with (
        CheckpointStore(tmp_path) as store,
        pytest.warns(RuntimeWarning, match="step 20 .* falling back to step 10"),
        pytest.raises(CheckpointError) as raised,
    ):
        store.restore(tiny_state())
    message = str(raised.value)
    assert message.startswith(f"no readable checkpoint in {tmp_path}; tried step 20: ")
    assert "; step 10: " in message


def test_all_set_aside_leaves_no_checkpoint(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(10, tiny_state(step=10), metadata={})
    damage(tmp_path, 10, "truncate")
    with pytest.warns(RuntimeWarning, match="step 10 .* is damaged"):
        store = CheckpointStore(tmp_path)
    with store, pytest.raises(CheckpointError, match=f"no checkpoints in {tmp_path}"):
        store.restore(tiny_state())


def test_explicit_or_best_damaged_step_raises_without_fallback(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path, monitor="val_loss", keep_latest=2) as store:
        store.save(10, tiny_state(step=10), metadata={}, metrics={"val_loss": 0.1})
        store.save(20, tiny_state(step=20), metadata={}, metrics={"val_loss": 0.2})
        store.save(30, tiny_state(step=30), metadata={}, metrics={"val_loss": 0.3})
        damage(tmp_path, 10, "truncate")
        damage(tmp_path, 30, "delete_arrays")
        # No RuntimeWarning either: warnings are errors in this suite.
        with pytest.raises(CheckpointError, match=r"checkpoint of step 30 in .* is unreadable \("):
            store.restore(tiny_state(), which=30)
        with pytest.raises(CheckpointError, match=r"checkpoint of step 10 in .* is unreadable \("):
            store.restore(tiny_state(), which="best")
        with pytest.raises(
            CheckpointError, match=r"no checkpoint of step 15 .*saved steps: \[10, 20, 30\]"
        ):
            store.restore(tiny_state(), which=15)
        _, _, step = store.restore(tiny_state(), which=20)
        assert step == 20


def test_a_damaged_step_is_replaced_by_a_new_save(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(10, tiny_state(1.0, step=10), metadata={})
        store.save(20, tiny_state(2.0, step=20), metadata={})
        damage(tmp_path, 20, "truncate")
        with pytest.warns(RuntimeWarning, match="step 20"):
            _, _, step = store.restore(tiny_state())
        assert step == 10
        store.save(20, tiny_state(3.0, step=20), metadata={"again": True})
        state, metadata, step = store.restore(tiny_state())
    assert (step, metadata) == (20, {"again": True})
    assert state.params["w"].tolist() == [3.0, 3.0, 3.0]


def test_empty_folder_raises(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path / "new") as store:
        assert (store.steps(), store.latest_step(), store.best_step()) == ([], None, None)
        with pytest.raises(
            CheckpointError, match=f"no checkpoints in {re.escape(str(tmp_path / 'new'))}$"
        ):
            store.restore(tiny_state())


def test_folder_under_a_file_is_refused_up_front(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(
        CheckpointError,
        match=f"folder {re.escape(str(blocker / 'ckpts'))} cannot be created or written to: ",
    ):
        CheckpointStore(blocker / "ckpts")
    with pytest.raises(
        CheckpointError, match=f"the checkpoint folder {re.escape(str(blocker))} is a file"
    ):
        CheckpointStore(blocker)


def test_read_only_folder_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder is on a read-only file system: nothing can be made inside it. (Injected,
    # since the tests run as root in CI, whom folder permissions do not stop, and a real
    # read-only mount needs privileges the tests do not have.)
    folder = tmp_path / "read_only"
    folder.mkdir()
    made: list[Path] = []
    mkdir = os.mkdir

    def read_only_mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        if Path(path).parent.is_relative_to(folder):
            made.append(Path(path))
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        mkdir(path, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    with pytest.raises(
        CheckpointError,
        match=f"the checkpoint folder {re.escape(str(folder))} cannot be created or written "
        "to: Read-only file system$",
    ):
        CheckpointStore(folder)
    assert [path.parent for path in made] == [folder]  # it tried to write in it, once
    with pytest.raises(
        CheckpointError,
        match=f"the checkpoint folder {re.escape(str(folder / 'sub'))} cannot be created or "
        "written to: Read-only file system$",
    ):
        CheckpointStore(folder / "sub")
    assert made[-1] == folder / "sub"
    monkeypatch.undo()
    CheckpointStore(folder).close()  # the same folder, writable, is taken


@pytest.mark.parametrize(
    ("like", "message"),
    [
        (
            tiny_state(shape=(4,)),
            r"array 0 \(\.params\['w'\]\) is float32\[3\] in the checkpoint and float32\[4\]",
        ),
        (
            tiny_state(dtype=jnp.int32),
            r"array 0 .* is float32\[3\] in the checkpoint and int32\[3\]",
        ),
        (
            TrainState(params={}, opt_state=(), step=jnp.asarray(0), key=jax.random.key(0)),
            # w, the optimizer array, step, key and skipped; against step, key and skipped
            "it holds 5 arrays, `like` has 3",
        ),
    ],
)
def test_mismatched_like_is_refused(tmp_path: Path, like: TrainState, message: str) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(0, tiny_state(), metadata={})
        with pytest.raises(
            CheckpointError, match=f"step 0 in {re.escape(str(tmp_path))} does not match `like`"
        ):
            store.restore(like)
        with pytest.raises(CheckpointError, match=message):
            store.restore(like, which=0)


def test_mismatched_trainer_is_refused(tmp_path: Path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.save(0, make_trainer("equinox").state, metadata={})
        with pytest.raises(CheckpointError, match="does not match `like`"):
            store.restore(make_trainer("equinox", features=5).state)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.close()
    store.close()
    with pytest.raises(CheckpointError, match="is closed"):
        store.save(0, tiny_state(), metadata={})
    with pytest.raises(CheckpointError, match="is closed"):
        store.restore(tiny_state())


# -- a failed save --------------------------------------------------------------------


class _SlowWrite:
    """A commit future whose write ends 0.5 s after the save started: it makes its folder
    first, as tensorstore makes the parent folders of each file it writes."""

    def __init__(self, folder: Path) -> None:
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._write, args=(folder,))
        self._thread.start()

    def _write(self, folder: Path) -> None:
        time.sleep(0.5)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "late").write_bytes(b"written after the failure")
        self.ended.set()

    def result(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def test_a_failed_save_ends_after_every_write_of_it_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record's save fails (a full disk) while a write of the arrays is still under way:
    the save reports the failure only once that write has ended, so the temporary folder it
    removes is not made again behind it, and the checkpoint saved before is intact."""
    handlers: Any = ocp.handlers  # orbax's classes, patched for this test only
    save_arrays = handlers.StandardCheckpointHandler.async_save
    slow: list[_SlowWrite] = []

    async def save_arrays_slowly(self: Any, directory: Any, *args: Any, **kwargs: Any) -> Any:
        futures = await save_arrays(self, directory, *args, **kwargs)
        slow.append(_SlowWrite(Path(directory) / "d"))
        return [*futures, slow[-1]]

    async def full_disk(self: Any, directory: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with CheckpointStore(tmp_path) as store:
        store.save(1, tiny_state(1.0), metadata={"epoch": 1})
        monkeypatch.setattr(handlers.StandardCheckpointHandler, "async_save", save_arrays_slowly)
        monkeypatch.setattr(handlers.JsonCheckpointHandler, "async_save", full_disk)
        message = (
            f"could not save the checkpoint of step 2 in {tmp_path}: No space left on device; "
            "the checkpoints saved before are kept"
        )
        with pytest.raises(CheckpointError, match=re.escape(message)):
            store.save(2, tiny_state(2.0), metadata={"epoch": 2})
        assert [write.ended.is_set() for write in slow] == [True]
        assert sorted(path.name for path in tmp_path.iterdir()) == ["1"]
        monkeypatch.undo()
        restored, metadata, step = store.restore(tiny_state())
    assert (step, metadata) == (1, {"epoch": 1})
    assert_bit_equal(restored, tiny_state(1.0))


# -- killed while saving --------------------------------------------------------------

_SAVER = textwrap.dedent(
    """
    import sys

    import jax
    import jax.numpy as jnp

    from elbox import TrainState
    from elbox.training import CheckpointStore

    store = CheckpointStore(sys.argv[1], keep_latest=2)
    base = jnp.arange(1_000_000, dtype=jnp.float32)
    for step in range(1, 10_000):
        state = TrainState(
            params={"w": base + step, "v": base - step},
            opt_state=(),
            step=jnp.asarray(step, dtype=jnp.int32),
            key=jax.random.key(step),
        )
        store.save(step, state, metadata={"step": step})
        print(step, flush=True)
    """
)


@pytest.mark.process  # a saver killed with SIGKILL in the middle of its saves
def test_killed_saver_leaves_only_restorable_checkpoints(tmp_path: Path) -> None:
    folder = tmp_path / "ckpts"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    saver = subprocess.Popen(
        [sys.executable, str(script), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert saver.stdout is not None
    try:
        for _ in range(3):  # let it save a few, then kill it in the middle of the next ones
            line = saver.stdout.readline()
            assert line, saver.stderr.read() if saver.stderr else ""
        time.sleep(0.05)
        saver.send_signal(signal.SIGKILL)
    finally:
        saver.kill()
        saver.communicate(timeout=30)

    like = TrainState(
        params={"w": jnp.zeros(1_000_000), "v": jnp.zeros(1_000_000)},
        opt_state=(),
        step=jnp.asarray(0, dtype=jnp.int32),
        key=jax.random.key(0),
    )
    base = np.arange(1_000_000, dtype=np.float32)
    with CheckpointStore(folder, keep_latest=2) as store:
        steps = store.steps()
        assert len(steps) >= 2
        for step in steps:
            state, metadata, restored_step = store.restore(like, which=step)
            assert (restored_step, metadata) == (step, {"step": step})
            assert np.array_equal(np.asarray(state.params["w"]), base + step)
            assert np.array_equal(np.asarray(state.params["v"]), base - step)
