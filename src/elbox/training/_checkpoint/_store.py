"""`CheckpointStore`: checkpoints of a `TrainState` and JSON metadata, on orbax's manager."""

import contextlib
import functools
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, final

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as ocp_managers

from ..._sharding import is_primary_process, sync_processes
from ..._signals import deferred_signals
from ..._validation import checked_step
from ...core._train_state import TrainState
from ._errors import (
    CheckpointError,
    UnreadableError,
    drop_closed_loop_reports,
    quiet_orbax_logs,
    quiet_orbax_logs_from_now_on,
    reason,
)
from ._layout import (
    FORMAT,
    RECORD,
    STATE,
    LeafSpec,
    check_json,
    handler_registry,
    leaf_spec,
    parse_payload,
    storable,
    target,
)
from ._manifest import MANIFEST, parse_json, verify_manifest, write_manifest
from ._retention import BestSteps, LatestSteps, metric, metric_or_nan, ranked
from ._writes import SaveWrites

# Retired checkpoints are first renamed into this sub-folder (orbax's `todelete_subdir`),
# which is one atomic rename, and only then deleted file by file. Deleting a step folder in
# place, as orbax does by default, leaves a half-deleted folder that is still listed as a
# checkpoint when the process is killed midway.
_TRASH: Final = ".deleted"
# Step folders found damaged when the store opens are moved here: orbax reads every step's
# metadata as it opens a folder, and one damaged file would make the whole folder unusable.
# Moved rather than deleted, so nothing is lost that someone may want to inspect.
_DAMAGED: Final = ".damaged"
# The JSON files orbax parses when it opens a folder.
_ORBAX_JSON: Final = ("_CHECKPOINT_METADATA", "metrics/metrics")
# orbax writes a checkpoint into `<step>` + this suffix (+ a time stamp), renamed when done.
_TMP_SUFFIX: Final = ".orbax-checkpoint-tmp"


def _writable_folder(directory: str | os.PathLike[str]) -> Path:
    """`directory` as an absolute path, created if need be, after checking it is writable."""
    path = Path(directory).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"the checkpoint folder {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # orbax writes each checkpoint as a folder: check that one can be made here.
        os.rmdir(tempfile.mkdtemp(prefix=".elbox-write-check-", dir=path))
    except OSError as error:
        why = error.strerror or str(error)
        raise CheckpointError(
            f"the checkpoint folder {path} cannot be created or written to: {why}"
        ) from error
    return path


@final
class CheckpointStore:
    """Checkpoints of a TrainState plus JSON metadata in one folder, on orbax's CheckpointManager.

    Each checkpoint is one step folder holding the state's arrays (orbax's standard
    PyTree format; PRNG keys as their raw key data) and a JSON record of the metadata the
    caller passes (epoch, callback states, configuration). Nothing is pickled. orbax
    writes each checkpoint to a temporary folder and renames it when complete, and retired
    checkpoints are renamed away before they are deleted, so a process killed at any moment
    leaves only complete checkpoints listed. Saves are synchronous: a checkpoint is on
    disk when `save` returns, and a save that fails (a full disk) raises only once every
    write it started has ended, having removed what they wrote. A damaged latest
    checkpoint is reported by a warning and the one before it read instead.

    Retention: the `keep_latest` checkpoints with the highest steps are always kept; when
    `monitor` is set, so are the best `save_top_k` by `metrics[monitor]` (all of them
    when `save_top_k` is None). A checkpoint saved without that metric counts only
    towards the latest.

    Args:
        directory: the folder of the checkpoints, created if missing.
        monitor: the metric that ranks checkpoints for `save_top_k` and `best_step`.
        mode: whether a lower ("min") or higher ("max") `monitor` is better.
        save_top_k: how many of the best checkpoints to keep besides the latest; None
            keeps every checkpoint that has the metric. Needs `monitor`.
        keep_latest: how many of the newest checkpoints to keep (at least 1; 2 leaves a
            fallback should the newest be damaged).

    Raises:
        CheckpointError: if `directory` cannot be created or written to.
        ValueError: if `mode`, `save_top_k` or `keep_latest` is invalid.

    Example:
        >>> import tempfile
        >>> import jax
        >>> import jax.numpy as jnp
        >>> state = TrainState(
        ...     params={"w": jnp.arange(3.0)},
        ...     opt_state=(),
        ...     step=jnp.asarray(10),
        ...     key=jax.random.key(0),
        ... )
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with CheckpointStore(folder) as store:
        ...         store.save(10, state, metadata={"epoch": 1})
        ...         restored, metadata, step = store.restore(like=state)
        >>> step, metadata, restored.params["w"].tolist()
        (10, {'epoch': 1}, [0.0, 1.0, 2.0])
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        monitor: str | None = None,
        mode: Literal["min", "max"] = "min",
        save_top_k: int | None = None,
        keep_latest: int = 2,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}")
        if isinstance(keep_latest, bool) or not isinstance(keep_latest, int) or keep_latest < 1:
            raise ValueError(
                f"keep_latest must be an int >= 1 (resuming needs the latest checkpoint); "
                f"got {keep_latest!r}"
            )
        if save_top_k is not None:
            if isinstance(save_top_k, bool) or not isinstance(save_top_k, int) or save_top_k < 0:
                raise ValueError(f"save_top_k must be None or an int >= 0; got {save_top_k!r}")
            if monitor is None:
                raise ValueError("save_top_k ranks checkpoints by a metric: it needs monitor")
        self._directory = _writable_folder(directory)
        self._monitor = monitor
        self._mode: Literal["min", "max"] = mode
        self._closed = False
        # The writes of the save under way: a failed save is tidied once they have all ended.
        self._writes = SaveWrites()
        # Steps whose save failed: their temporary folders are looked for again at close.
        # Every write orbax's threads wait for has ended before the first removal; a
        # tensorstore operation that one of those threads gave up on when a sibling
        # operation failed is out of sight, and on a full disk it fails in its turn.
        self._failed_saves: set[int] = set()

        policies: list[ocp_managers.PreservationPolicy] = [LatestSteps(keep_latest)]
        if monitor is not None:
            policies.append(BestSteps(monitor, mode, save_top_k))
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=False,
            create=False,
            cleanup_tmp_directories=True,
            todelete_subdir=_TRASH,
            preservation_policy=ocp_managers.AnyPreservationPolicy(policies),
            # orbax writes a checkpoint's metrics (and reads them back when the folder is
            # reopened, for the preservation policy) only when `best_fn` is set. Ranking is
            # `_BestSteps`'s; `best_fn` is used by nothing else here.
            best_fn=None if monitor is None else functools.partial(metric_or_nan, monitor=monitor),
            best_mode=mode,
        )
        # With several processes (sharing the folder) process 0 tidies it; the others wait.
        if is_primary_process():
            self._purge_trash()
            self._set_aside_damaged_steps()
        sync_processes(f"elbox-checkpoint-open:{self._directory}")
        try:
            with deferred_signals(), quiet_orbax_logs():
                self._manager = ocp.CheckpointManager(
                    self._directory,
                    options=options,
                    handler_registry=handler_registry(self._writes),
                )
        except Exception as error:
            raise CheckpointError(
                f"cannot open the checkpoints in {self._directory}: {reason(error)}; a step "
                "folder may be damaged (delete it to go on)"
            ) from error

    # -- queries ------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The checkpoint folder, as an absolute path."""
        return self._directory

    def steps(self) -> list[int]:
        """The steps of all saved checkpoints, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The highest saved step, or None when there is no checkpoint."""
        steps = self.steps()
        return steps[-1] if steps else None

    def best_step(self) -> int | None:
        """The kept checkpoint with the best `monitor` metric (by `mode`).

        A store opened without `monitor` uses the monitor and mode that the newest
        readable checkpoint was saved with, so a plain store can find the best checkpoint
        of a folder written by a ranked one.

        Returns:
            Its step; None when there is no monitor or no kept checkpoint has the metric.
            A tie goes to the earlier step.
        """
        ranking = self._ranking()
        if ranking is None:
            return None
        monitor, mode = ranking
        scores = {step: metric(self._read_metrics(step), monitor) for step in self.steps()}
        best = ranked(scores, mode)
        return best[0] if best else None

    def _ranking(self) -> tuple[str, Literal["min", "max"]] | None:
        """This store's monitor and mode, else those recorded with the newest checkpoint."""
        if self._monitor is not None:
            return self._monitor, self._mode
        for step in reversed(self.steps()):
            try:
                payload = self._read_payload(step)
            except UnreadableError:
                continue
            monitor, mode = payload.get("monitor"), payload.get("mode")
            if isinstance(monitor, str) and mode in ("min", "max"):
                return monitor, "min" if mode == "min" else "max"
            return None
        return None

    def _read_metrics(self, step: int) -> Any:
        try:
            with quiet_orbax_logs():
                return self._manager.metrics(step)
        except Exception:  # An unreadable metrics file: the step has no metric.
            return None

    # -- saving -------------------------------------------------------------------------

    def save(
        self,
        step: int,
        state: TrainState,
        *,
        metadata: Mapping[str, Any],
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Save `state` and `metadata` as the checkpoint of `step`, then apply retention.

        The checkpoint is complete on disk when this returns, with a list of its files'
        sizes and digests that `restore` checks. A checkpoint already saved at `step` is
        deleted first and replaced.

        Args:
            step: the checkpoint's step (a non-negative int).
            state: the training state, e.g. `trainer.state`.
            metadata: anything JSON holds exactly (dicts with string keys, lists, str,
                int, float, bool, None); `restore` gives it back.
            metrics: metric values of this checkpoint; `metrics[monitor]` ranks it.

        Raises:
            TypeError: if `step` is not an integer, or `metadata` holds something JSON
                would not give back unchanged.
            ValueError: if `step` is negative.
            CheckpointError: if the store is closed or orbax cannot write the checkpoint.
        """
        self._check_open()
        step = checked_step(step)
        record = dict(metadata)
        check_json(record, "metadata")
        leaves = jax.tree.leaves(state)
        stored = [storable(leaf) for leaf in leaves]
        layout = [list(leaf_spec(leaf)) for leaf in leaves]
        payload = {
            "format": FORMAT,
            "layout": layout,
            "metadata": record,
            "monitor": self._monitor,
            "mode": self._mode,
        }
        orbax_metrics: dict[str, float] | None = None
        if self._monitor is not None:
            # Always a dict when a metric is monitored: orbax warns on each save without.
            orbax_metrics = {str(name): float(value) for name, value in (metrics or {}).items()}
        args = ocp.args.Composite(
            **{STATE: ocp.args.StandardSave(stored), RECORD: ocp.args.JsonSave(payload)}
        )
        drop_closed_loop_reports()
        # SIGINT and SIGTERM wait for the save: a signal handler raising inside orbax would
        # leave its temporary folder behind.
        with deferred_signals(), quiet_orbax_logs():
            self._writes.begin()
            try:
                if step in self._manager.all_steps():
                    self._manager.delete(step)
                self._manager.save(step, args=args, metrics=orbax_metrics, force=True)
                step_folder = self._step_folder(step)
                # unless retention removed it at once (an old step)
                if is_primary_process() and step_folder.is_dir():
                    write_manifest(step_folder)
                sync_processes(f"elbox-checkpoint-manifest:{self._directory}:{step}")
                listed = list(self._manager.all_steps())
                if listed != sorted(listed):  # orbax lists in save order; re-read in step order
                    self._manager.reload()
            except Exception as error:
                quiet_orbax_logs_from_now_on()
                # Writes of the failed save may still be under way on orbax's threads:
                # let them end before removing what they wrote, or they write it again.
                self._writes.wait()
                if is_primary_process():
                    self._remove_unfinished(step)
                    self._failed_saves.add(step)
                raise CheckpointError(
                    f"could not save the checkpoint of step {step} in {self._directory}: "
                    f"{reason(error)}; the checkpoints saved before are kept"
                ) from error
            finally:
                if is_primary_process():
                    self._purge_trash()

    # -- restoring ----------------------------------------------------------------------

    def restore(
        self, like: TrainState, which: Literal["latest", "best"] | int = "latest"
    ) -> tuple[TrainState, dict[str, Any], int]:
        """Read a checkpoint back as a TrainState shaped like `like`.

        Before orbax reads a checkpoint, its files are checked against the sizes and
        digests listed when it was saved. `which="latest"` reads the newest checkpoint;
        when it is unreadable, a `RuntimeWarning` names it and the next older one is
        tried. `"best"` reads the checkpoint of `best_step()` and an int the checkpoint of
        that step; neither falls back.

        Args:
            like: a state of the same structure, shapes and dtypes (e.g. the current
                `trainer.state`); its tree structure, devices and PRNG implementation are
                those of the result. Only its metadata is read, so its arrays may have
                been donated.
            which: "latest", "best" or a step.

        Returns:
            `(state, metadata, step)`: the restored state, bit-for-bit what was saved,
            the metadata saved with it and the step of the checkpoint read.

        Raises:
            CheckpointError: if there is no checkpoint (or none at the step asked for, or
                no best one), if the checkpoint is unreadable (for "latest": all of
                them), or if it does not match `like`'s structure, shapes or dtypes.
            ValueError: if `which` is another string or a negative step.
        """
        self._check_open()
        steps = self.steps()
        if not steps:
            raise CheckpointError(f"no checkpoints in {self._directory}")
        if which == "latest":
            return self._restore_latest(like, steps)
        if which == "best":
            best = self.best_step()
            if best is None:
                why = (
                    "no monitor is set"
                    if self._monitor is None
                    else f"no checkpoint has the metric {self._monitor!r}"
                )
                raise CheckpointError(f"no best checkpoint in {self._directory}: {why}")
            step = best
        else:
            requested: object = which  # Users run without the run-time type checks.
            if isinstance(requested, str):
                raise ValueError(f"which must be 'latest', 'best' or a step; got {which!r}")
            step = checked_step(requested)
            if step not in steps:
                raise CheckpointError(
                    f"no checkpoint of step {step} in {self._directory}; saved steps: {steps}"
                )
        try:
            with deferred_signals():
                state, metadata = self._restore_step(like, step)
        except UnreadableError as error:
            raise CheckpointError(
                f"the checkpoint of step {step} in {self._directory} is unreadable ({error})"
            ) from error.__cause__
        return state, metadata, step

    def _restore_latest(
        self, like: TrainState, steps: list[int]
    ) -> tuple[TrainState, dict[str, Any], int]:
        newest_first = steps[::-1]
        failures: list[str] = []
        for index, step in enumerate(newest_first):
            try:
                with deferred_signals():
                    state, metadata = self._restore_step(like, step)
            except UnreadableError as error:
                failures.append(f"step {step}: {error}")
                if index + 1 < len(newest_first):
                    warnings.warn(
                        f"checkpoint at step {step} in {self._directory} is unreadable "
                        f"({error}); falling back to step {newest_first[index + 1]}",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                continue
            return state, metadata, step
        raise CheckpointError(
            f"no readable checkpoint in {self._directory}; tried " + "; ".join(failures)
        )

    def _restore_step(self, like: TrainState, step: int) -> tuple[TrainState, dict[str, Any]]:
        """One step; `UnreadableError` if its files are damaged, CheckpointError on mismatch."""
        verify_manifest(self._step_folder(step))
        layout, metadata = parse_payload(self._read_payload(step))
        paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
        paths = [jax.tree_util.keystr(path) for path, _ in paths_and_leaves]
        like_leaves = [leaf for _, leaf in paths_and_leaves]
        specs = [leaf_spec(leaf) for leaf in like_leaves]
        self._check_layout(step, layout, specs, paths)

        targets = [target(leaf, spec) for leaf, spec in zip(like_leaves, specs, strict=True)]
        args = ocp.args.Composite(**{STATE: ocp.args.StandardRestore(targets)})
        try:
            with quiet_orbax_logs():
                arrays = self._manager.restore(step, args=args)[STATE]
        except Exception as error:
            raise UnreadableError(reason(error)) from error
        if not isinstance(arrays, list) or len(arrays) != len(specs):
            raise UnreadableError("the stored arrays do not form the list that was saved")
        leaves: list[Any] = []
        for array, spec, leaf in zip(arrays, specs, like_leaves, strict=True):
            if not isinstance(array, jax.Array) or leaf_spec(array) != spec._replace(key_impl=None):
                raise UnreadableError("a stored array came back with another shape or dtype")
            if spec.key_impl is not None:
                array = jax.random.wrap_key_data(array, impl=jax.random.key_impl(leaf))
            leaves.append(array)
        state = jax.tree.unflatten(treedef, leaves)
        if not isinstance(state, TrainState):
            raise CheckpointError(f"like must be a TrainState; got {type(like).__name__}")
        return state, metadata

    def _read_payload(self, step: int) -> Any:
        """The JSON record of `step`, or `UnreadableError`."""
        try:
            with quiet_orbax_logs():
                restored = self._manager.restore(
                    step, args=ocp.args.Composite(**{RECORD: ocp.args.JsonRestore()})
                )
                return restored[RECORD]
        except Exception as error:
            raise UnreadableError(reason(error)) from error

    def _check_layout(
        self, step: int, layout: list[LeafSpec], specs: list[LeafSpec], paths: list[str]
    ) -> None:
        where = f"the checkpoint of step {step} in {self._directory}"
        if len(layout) != len(specs):
            raise CheckpointError(
                f"{where} does not match `like`: it holds {len(layout)} arrays, `like` has "
                f"{len(specs)} (a different model or optimizer, or another ema_decay or "
                "precision?)"
            )
        for index, (saved, wanted, path) in enumerate(zip(layout, specs, paths, strict=True)):
            if saved != wanted:
                raise CheckpointError(
                    f"{where} does not match `like` (shapes or dtypes differ): array "
                    f"{index} ({path or 'the root'}) is {saved.describe()} in the "
                    f"checkpoint and {wanted.describe()} in `like`"
                )

    # -- housekeeping -------------------------------------------------------------------

    def _step_folder(self, step: int) -> Path:
        return self._directory / str(step)  # orbax's default step names: no prefix or padding

    def _set_aside_damaged_steps(self) -> None:
        """Move step folders whose files are truncated or missing to `.damaged/`, warning.

        Checks sizes (not digests, which `restore` checks) against the manifest, or, for a
        step without one, that orbax's JSON files parse.
        """
        for folder in sorted(self._directory.iterdir(), key=lambda path: path.name):
            if not (folder.is_dir() and folder.name.isdigit()):
                continue
            try:
                verify_manifest(folder, digests=False)
                if not (folder / MANIFEST).exists():
                    for name in _ORBAX_JSON:
                        if (folder / name).exists():
                            parse_json(folder / name)
            except UnreadableError as error:
                target = self._directory / _DAMAGED / folder.name
                suffix = 1
                while target.exists():
                    target = self._directory / _DAMAGED / f"{folder.name}-{suffix}"
                    suffix += 1
                target.parent.mkdir(exist_ok=True)
                os.replace(folder, target)
                warnings.warn(
                    f"checkpoint at step {folder.name} in {self._directory} is damaged "
                    f"({error}); moved it to {target}",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def _remove_unfinished(self, step: int) -> None:
        """Remove what a failed save of `step` left: orbax's temporary folder, and the step
        folder when it lacks its file list (the save failed after orbax renamed it)."""
        self._remove_temporary(step)
        folder = self._step_folder(step)
        if folder.is_dir() and not (folder / MANIFEST).exists():
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(Exception):
                self._manager.reload()

    def _remove_temporary(self, step: int) -> None:
        """Remove orbax's temporary folder of a save of `step`."""
        for path in self._directory.glob(f"{step}{_TMP_SUFFIX}*"):
            shutil.rmtree(path, ignore_errors=True)

    def _purge_trash(self) -> None:
        # What is in the trash is no longer listed as a checkpoint, so a deletion cut short
        # costs only disk space; the next save or opening of the folder finishes it.
        shutil.rmtree(self._directory / _TRASH, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closed:
            raise CheckpointError(f"the checkpoint store of {self._directory} is closed")

    def close(self) -> None:
        """Finish pending work and release orbax's resources; later saves and restores fail.

        Closing twice is harmless. A `with CheckpointStore(...) as store:` block closes it.
        """
        if self._closed:
            return
        self._closed = True
        try:
            with deferred_signals(), quiet_orbax_logs():
                self._manager.close()
        finally:
            if is_primary_process():
                self._purge_trash()
                for step in self._failed_saves:
                    self._remove_temporary(step)

    def __enter__(self) -> "CheckpointStore":
        """The store itself, closed at the end of the `with` block."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()
