"""`Trainer`: the epoch loop around a VAETrainer, with validation, callbacks and resume."""

import itertools
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array, PRNGKeyArray

from .._batch import BATCH_KEYS, batch_data
from .._custom_types import (
    Batch,
    LossFnFactory,
    Metrics,
    Model,
    NonFinite,
    OptimizerLike,
    StepMetrics,
)
from .._faults import fault_point
from .._validation import checked_int
from ..core._nonfinite import NonFiniteStepError
from ..core._precision import PrecisionName, PrecisionPolicy
from ..trainers._abstract_trainer import AbstractTrainer
from ..trainers._engine import Engine
from ..trainers._loss_fn_trainer import LossFnTrainer
from ._callback import Callback
from ._history import History
from ._interrupted import FitInterruptedError

TrainData = Iterable[Batch] | Callable[[int], Iterable[Batch]]
"""Batches: a re-iterable (list, `elbox.data.batches`, a grain or PyTorch loader yielding
NumPy arrays) or a callable `epoch -> iterable of batches`."""

# 2: the TrainState of the functional core (params, opt_state, model_state, step, key,
# skipped); format 1 held (params, opt_state, step, key) of the former backends.
CHECKPOINT_FORMAT = 2

# How many dispatched steps may wait before their metrics are read. Reading a step's
# metrics waits for it to finish; staying a little behind keeps the device busy.
_METRICS_LAG = 2


def _epoch_source(data: TrainData, name: str) -> Callable[[int], Iterable[Batch]]:
    for_epoch = getattr(data, "for_epoch", None)
    if callable(for_epoch):
        return for_epoch  # type: ignore[no-any-return]  # elbox.data.Batches and alike
    if isinstance(data, np.ndarray | jax.Array):
        raise TypeError(
            f"{name} is a single array; pass batches, e.g. elbox.data.batches(array, 128), "
            "a list of batches, or a callable epoch -> batches"
        )
    if isinstance(data, Iterator):
        raise TypeError(
            f"{name} is an iterator, which one epoch would exhaust; pass a re-iterable (a "
            "list, elbox.data.batches(...), a data loader) or a callable epoch -> batches"
        )
    if isinstance(data, Iterable):
        return lambda epoch: data
    if callable(data):
        return data
    raise TypeError(
        f"{name} must be an iterable of batches or a callable epoch -> batches; "
        f"got {type(data).__name__}"
    )


def _leading_size(batch: Batch) -> int:
    if isinstance(batch, Mapping) and not any(key in batch for key in BATCH_KEYS):
        leaves = jax.tree.leaves(batch)
        return int(jnp.shape(leaves[0])[0]) if leaves else 0
    return int(jnp.shape(batch_data(batch))[0])


def _stack(batches: list[Batch]) -> Batch:
    def stack(*leaves: Array | np.ndarray) -> Array | np.ndarray:
        if all(isinstance(leaf, np.ndarray) for leaf in leaves):
            return np.stack(leaves)
        return jnp.stack(leaves)

    stacked: Batch = jax.tree.map(stack, *batches)
    return stacked


def _to_host(metrics: Mapping[str, Array], count: int) -> list[dict[str, float]]:
    host = {name: np.asarray(value) for name, value in metrics.items()}
    if count == 1 and all(value.ndim == 0 for value in host.values()):
        return [{name: float(value) for name, value in host.items()}]
    return [{name: float(value[i]) for name, value in host.items()} for i in range(count)]


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


def _step_range(steps: Sequence[int]) -> str:
    return f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]} to {steps[-1]}"


@final
class Trainer:
    """Trains over epochs: validation, callbacks, checkpoints and exact resume.

    Drives a `VAETrainer` (NNX or Equinox), or any loss through `Trainer.from_loss_fn`.
    Each epoch logs the means of the step metrics and, with validation data, `val_loss`,
    `val_recon_loss`, `val_kl_loss` and `val_neg_elbo` (the unannealed negative ELBO: KL
    weight 1, no free bits); for a trainer that keeps an average of the parameters
    (`ema_decay`), the same of the average as `val_ema_loss`, ..., `val_ema_neg_elbo`.
    Validation runs an Equinox model in inference mode (BatchNorm on its running
    statistics).

    The loop owns the training state between its steps, so it donates the state's buffers
    to each step (`donate=True`): the state is updated in place, in the memory of one copy.
    Arrays taken from the model before `fit` are then invalid after it.

    A step whose loss or gradients are not finite is skipped by the trainer (its
    `nonfinite="skip"` default): the epoch logs count them in `skipped` (the means of the
    other metrics leave them out) and the progress display shows the count. After
    `max_consecutive_skips` skipped steps in a row, `fit` stops with a
    `NonFiniteStepError` naming them; checkpoints written before are kept, and the model
    holds the state from before the skipped steps.

    Callbacks see the loop as a `TrainingLoop`: `engine` (the trainer whose steps run),
    `callbacks`, `loss_type`, `history` (the `History` so far), `epoch` (the current
    epoch, from 0), `epochs` (the total), `steps_per_epoch` (None when the data has no
    length), `should_stop` and `stop_reason` (set by `request_stop`) and `resumed_from`.

    `request_interrupt(reason)` (what a signal handler calls) stops the loop after the step
    that is running, without finishing the epoch: every callback's `on_interrupt` runs
    (`ModelCheckpoint` saves the last finished step) and `fit` raises `FitInterruptedError`. A
    fit resumed from such a checkpoint continues the epoch where it stopped, skipping the
    batches already trained on, and ends as an uninterrupted fit would.

    Args:
        trainer: the `VAETrainer` (or other trainer with `loop_steps`) whose steps to run.
        callbacks: `Callback`s, called in order.
        loss_type: the reconstruction loss for a `VAETrainer` (default `"mse"`).
        steps_per_dispatch: K > 1 stacks K batches and runs them as one fused dispatch
            (`train_steps`); callbacks still see every step's metrics.
        mesh: train data-parallel over this mesh (`trainer.distribute(mesh)`): each batch
            is split over the mesh's devices. With several processes each one passes its
            share of every global batch; only process 0 writes logs.
        donate: donate the state's buffers to each step (default True).
        max_consecutive_skips: stop after this many skipped steps in a row (at least 1).

    Example:
        >>> import jax, optax
        >>> from elbox import VAETrainer, VAETrainingConfig
        >>> from elbox.data import batches
        >>> from elbox.models.equinox import MLPVAE
        >>> from elbox.training import Trainer
        >>> model = MLPVAE(8, hidden=16, latent=2, key=jax.random.key(0))
        >>> vae = VAETrainer(model, optax.adam(1e-2))
        >>> data = jax.random.uniform(jax.random.key(1), (64, 8))
        >>> trainer = Trainer(vae)
        >>> history = trainer.fit(
        ...     batches(data, 16), epochs=2, val_data=batches(data, 32)
        ... )
        >>> len(history.epochs), history.num_steps, "val_neg_elbo" in history.epochs[-1]
        (2, 8, True)
    """

    def __init__(
        self,
        trainer: AbstractTrainer[Any],
        *,
        callbacks: Sequence[Callback] = (),
        loss_type: Any = None,
        steps_per_dispatch: int = 1,
        mesh: Mesh | None = None,
        donate: bool = True,
        max_consecutive_skips: int = 10,
    ) -> None:
        if not isinstance(trainer, AbstractTrainer):
            raise TypeError(
                "Trainer drives an elbox VAETrainer (or LossFnTrainer); got "
                f"{type(trainer).__name__}. For a model, an optimizer and a make_loss_fn "
                "factory use Trainer.from_loss_fn"
            )
        bad = [
            type(callback).__name__ for callback in callbacks if not isinstance(callback, Callback)
        ]
        if bad:
            raise TypeError(f"callbacks must be elbox.training.Callback instances; got {bad}")
        steps_per_dispatch = checked_int("", "steps_per_dispatch", steps_per_dispatch, 1)
        self.max_consecutive_skips: int = checked_int(
            "", "max_consecutive_skips", max_consecutive_skips, 1
        )
        if mesh is not None:
            trainer.distribute(mesh)
        self._steps = trainer.loop_steps(loss_type=loss_type, donate=donate)
        self.engine: Engine = self._steps.engine
        """The engine whose state the steps train: its `model`, `state` and `step`."""
        self.loss_type: Any = loss_type if loss_type is not None else self._steps.loss_type
        """The reconstruction loss of a `VAETrainer`'s steps; None for other trainers."""
        self.callbacks: list[Callback] = list(callbacks)
        self.steps_per_dispatch: int = steps_per_dispatch
        self.history: History = History()
        self.epoch: int = 0
        self.epochs: int = 0
        self.steps_per_epoch: int | None = None
        self.should_stop: bool = False
        self.stop_reason: str | None = None
        self.resumed_from: tuple[int, int] | None = None
        """`(epoch, step)` of the checkpoint this fit resumed from, if it did."""
        self._skipped_run: list[int] = []
        self._interrupt: str | None = None
        self._resume_steps = 0

    @classmethod
    def from_loss_fn(
        cls,
        model: Model,
        optimizer: OptimizerLike,
        make_loss_fn: LossFnFactory,
        *,
        callbacks: Sequence[Callback] = (),
        steps_per_dispatch: int = 1,
        key: PRNGKeyArray | None = None,
        donate: bool = True,
        nonfinite: NonFinite = "skip",
        mesh: Mesh | None = None,
        max_consecutive_skips: int = 10,
        ema_decay: float | None = None,
        ema_warmup: bool = True,
        accumulate: int = 1,
        precision: PrecisionName | PrecisionPolicy = "float32",
    ) -> "Trainer":
        """A Trainer over the loss that `make_loss_fn(step)` returns.

        This is how a `create_loss_fn(step=...)` factory plugs into the training loop:
        `Trainer.from_loss_fn(model, optimizer, lambda step:
        vae_trainer.create_loss_fn(step=step), callbacks=...)`. `make_loss_fn` is called
        with a traced step inside the compiled step, so the step compiles once.

        Args:
            model: an `nnx.Module` or an `eqx.Module`.
            optimizer: its `nnx.Optimizer`, or an optax optimizer for an Equinox model.
            make_loss_fn: `step -> loss_fn(model, batch) -> (loss, metrics)`.
            callbacks: `Callback`s, called in order.
            steps_per_dispatch: steps fused into one dispatch (see `Trainer`).
            key: the base PRNG key (see `AbstractTrainer.key`).
            donate: donate the training state's buffers to each step of `fit`.
            nonfinite: `"skip"`, `"raise"` or `"apply"` (see `LossFnTrainer`).
            mesh: train data-parallel over this mesh.
            max_consecutive_skips: stop after this many skipped steps in a row.
            ema_decay: keep an average of the parameters (see `LossFnTrainer`).
            ema_warmup: the average's warm-up (see `TrainStep`).
            accumulate: micro-batches per optimizer update (see `TrainStep`).
            precision: the mixed-precision policy (see `PrecisionPolicy`).

        Returns:
            A Trainer driving a `LossFnTrainer`.
        """
        engine = LossFnTrainer(
            model,
            optimizer,
            make_loss_fn,
            key=key,
            nonfinite=nonfinite,
            mesh=mesh,
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
            accumulate=accumulate,
            precision=precision,
        )
        return cls(
            engine,
            callbacks=callbacks,
            steps_per_dispatch=steps_per_dispatch,
            donate=donate,
            max_consecutive_skips=max_consecutive_skips,
        )

    # -- the stop flag ---------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Stop after the current step and epoch bookkeeping; `reason` goes in the history."""
        if not self.should_stop:
            self.should_stop = True
            self.stop_reason = reason

    def request_interrupt(self, reason: str) -> None:
        """Stop after the running step, save it through the callbacks' `on_interrupt` and
        raise `FitInterruptedError(reason)` from `fit`. Safe to call from a signal handler: it
        only sets a flag, which the loop reads between steps."""
        if self._interrupt is None:
            self._interrupt = reason

    @property
    def interrupted(self) -> bool:
        """Whether `request_interrupt` was called during this fit."""
        return self._interrupt is not None

    # -- fit ---------------------------------------------------------------------------

    def fit(
        self,
        train_data: TrainData,
        *,
        epochs: int,
        val_data: TrainData | None = None,
        resume: bool = False,
    ) -> History:
        """Train for `epochs` epochs (in all, counting those a resume skips).

        Args:
            train_data: the training batches: a re-iterable or a callable
                `epoch -> batches`. `elbox.data.batches` orders each epoch by its seed and
                the epoch number alone, so a resumed run sees the same batches.
            epochs: the total number of epochs.
            val_data: validation batches, evaluated after every epoch.
            resume: continue from the latest checkpoint of the callback that keeps them
                (`ModelCheckpoint`); with no checkpoint there yet, start from scratch
                (with a warning).

        Returns:
            The `History` of the whole run (a resumed run's includes the epochs before).

        Raises:
            ValueError: for empty training or validation data, before any step.
            NonFiniteStepError: after `max_consecutive_skips` skipped steps in a row.
            FitInterruptedError: after `request_interrupt`, once the callbacks saved the state.
        """
        epochs = checked_int("", "epochs", epochs, 1)
        train_source = _epoch_source(train_data, "train_data")
        val_source = None if val_data is None else _epoch_source(val_data, "val_data")
        self.epochs = epochs
        self.steps_per_epoch = len(train_data) if isinstance(train_data, Sized) else None
        self.should_stop, self.stop_reason, self.resumed_from = False, None, None
        self.history = History()
        self._skipped_run = []
        self._resume_steps = 0
        self._interrupt = None
        try:
            for callback in self.callbacks:
                callback.setup(self)  # e.g. unwritable folders fail before any step
            start = self._resume() if resume else 0
            if start >= self.epochs:
                return self.history
            done = self._resume_steps  # steps of the first epoch trained before a resume
            first_epoch = (
                self._non_empty(train_source, start)
                if done == 0
                else itertools.islice(iter(train_source(start)), done, None)
            )
            for callback in self.callbacks:
                callback.on_fit_start(self)
            for epoch in range(start, self.epochs):
                batches = first_epoch if epoch == start else iter(train_source(epoch))
                self._run_epoch(epoch, batches, val_source, done=done if epoch == start else 0)
                if self.interrupted:
                    self._stop_interrupted()
                if self.should_stop:
                    break
            self.history.stop_reason = self.stop_reason
            for callback in self.callbacks:
                callback.on_fit_end(self)
        finally:
            for callback in self.callbacks:
                callback.teardown(self)
        return self.history

    def _non_empty(self, source: Callable[[int], Iterable[Batch]], epoch: int) -> Iterator[Batch]:
        iterator = iter(source(epoch))
        first = next(iterator, None)
        if first is None:
            raise ValueError(
                f"train_data yielded no batches for epoch {epoch}; nothing to train on"
            )
        return _chain(first, iterator)

    def _stop_interrupted(self) -> None:
        for callback in self.callbacks:
            callback.on_interrupt(self)
        reason, step = self._interrupt or "", self.engine.step
        raise FitInterruptedError(
            f"training was interrupted ({reason}) after step {step}", reason=reason, step=step
        )

    def _run_epoch(
        self,
        epoch: int,
        batches: Iterator[Batch],
        val_source: Callable[[int], Iterable[Batch]] | None,
        *,
        done: int = 0,
    ) -> None:
        """Train, validate and log one epoch; `done` of its steps were trained before a
        resume (they are in the history already, and `batches` starts after them)."""
        self.epoch = epoch
        for callback in self.callbacks:
            callback.on_epoch_start(self, epoch)
        start_time, first_row = time.perf_counter(), self.history.num_steps - done
        self._train_epoch(epoch, batches)
        if self._interrupt is not None:
            return  # no validation or epoch logs: the epoch is not over
        logs = self.history.epoch_means(epoch, since=first_row)
        if not logs:
            raise ValueError(f"train_data yielded no batches for epoch {epoch}")
        if val_source is not None:
            logs.update(self._validate(val_source))
        seconds = time.perf_counter() - start_time
        steps = self.history.num_steps - first_row
        logs.update(
            epoch=epoch, step=self.engine.step, seconds=seconds, steps_per_second=steps / seconds
        )
        self.history.record_epoch(logs)
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, logs)
        for callback in self.callbacks:
            callback.on_epoch_complete(self, epoch, logs)

    def _train_epoch(self, epoch: int, batches: Iterator[Batch]) -> None:
        step_callbacks = [cb for cb in self.callbacks if _overrides(cb, "on_step_end")]
        pending: deque[tuple[int, StepMetrics, int]] = deque()
        fused = self.steps_per_dispatch
        steps = self._steps
        engine, train_step, prepare, donate = (
            steps.engine,
            steps.train_step,
            steps.prepare,
            steps.donate,
        )
        step = engine.step

        def drain(keep: int) -> None:
            while len(pending) > keep:
                first, metrics, count = pending.popleft()
                for offset, values in enumerate(_to_host(metrics, count)):
                    self.history.record_step(first + offset, epoch, values)
                    self._count_skips(first + offset, values)
                    for callback in step_callbacks:
                        callback.on_step_end(self, first + offset, values)
                    fault_point("step")  # a test hook (elbox._faults)

        def one(batch: Batch) -> None:
            nonlocal step
            metrics = engine.train(train_step, prepare(batch, 1), step=step, donate=donate)
            pending.append((step, metrics, 1))
            step += 1

        chunk: list[Batch] = []
        for batch in batches:
            if fused == 1:
                one(batch)
            else:
                chunk.append(batch)
                if len(chunk) < fused:
                    continue
                stacked = prepare(_stack(chunk), 2)
                metrics = engine.train_fused(train_step, stacked, fused, step=step, donate=donate)
                pending.append((step, metrics, fused))
                step += fused
                chunk = []
            drain(_METRICS_LAG)
            if self.should_stop or self._interrupt is not None:
                break
        if not self.should_stop and self._interrupt is None:
            for batch in chunk:  # the epoch's last batches that do not fill a dispatch
                one(batch)
        drain(0)

    def _count_skips(self, step: int, values: Mapping[str, float]) -> None:
        if values.get("skipped", 0.0) < 0.5:
            self._skipped_run = []
            return
        self._skipped_run.append(step)
        if len(self._skipped_run) >= self.max_consecutive_skips:
            steps = self._skipped_run
            raise NonFiniteStepError(
                f"training stopped: {len(steps)} consecutive steps ({_step_range(steps)}) were "
                "skipped because their loss or gradients were not finite "
                f"(max_consecutive_skips={self.max_consecutive_skips}); the model holds the "
                "state from before them and checkpoints written so far are kept. Look for "
                "NaN or infinite values in the data, or lower the learning rate",
                steps=steps,
            )

    def _validate(self, source: Callable[[int], Iterable[Batch]]) -> dict[str, float]:
        steps = self._steps
        results: list[tuple[int, Metrics]] = []
        for batch in source(0):
            prepared = steps.prepare(batch, 1)
            shown: Metrics = {}
            for weights in steps.weights:  # the trained parameters, and their average
                _, metrics = steps.engine.evaluate(steps.evaluation_step, prepared, weights=weights)
                prefix = "" if weights == "trained" else f"{weights}_"
                shown.update(
                    (prefix + name, value)
                    for name, value in metrics.items()
                    if name not in steps.hidden_metrics
                )
            results.append((_leading_size(batch), shown))
        total = sum(size for size, _ in results)
        if total == 0:
            raise ValueError("val_data yielded no batches")
        sums: dict[str, float] = {}
        for size, metrics in results:
            for name, value in _to_host(metrics, 1)[0].items():
                sums[name] = sums.get(name, 0.0) + size * value
        return {f"val_{name}": value / total for name, value in sums.items()}

    # -- checkpoints and resume ------------------------------------------------------

    def checkpoint_metadata(self, epoch: int) -> dict[str, Any]:
        """What a checkpoint stores besides the arrays: enough for an exact resume.

        `epoch_steps` is how many steps of `epoch` are done; `complete` whether the epoch
        ended (an interrupted fit saves an epoch cut short).
        """
        epoch_steps = sum(1 for e in self.history.steps["epoch"] if e == epoch)
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "complete": len(self.history.epochs) > epoch,
            "epoch_steps": epoch_steps,
            "step": self.engine.step,
            "epochs": self.epochs,
            "config": self._steps.config,
            "loss_type": self._steps.loss_type,
            "callbacks": [
                {"class": type(callback).__name__, "state": callback.state_dict()}
                for callback in self.callbacks
            ],
            "history": self.history.to_dict(),
        }

    def _resume(self) -> int:
        restorers = [cb for cb in self.callbacks if _overrides(cb, "restore")]
        if not restorers:
            raise ValueError(
                "fit(resume=True) needs a ModelCheckpoint callback (or another callback that "
                "restores checkpoints): its folder holds the checkpoints to resume from"
            )
        metadata = restorers[0].restore(self)
        if metadata is None:
            return 0
        if metadata.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"the checkpoint was written in format {metadata.get('format')!r} by another "
                f"version of elbox; this one reads format {CHECKPOINT_FORMAT}"
            )
        epoch = int(metadata["epoch"])
        self._check_config(metadata)
        self.history = History.from_dict(metadata["history"])
        self._load_callback_states(metadata["callbacks"])
        self.resumed_from = (epoch, int(metadata["step"]))
        if metadata.get("complete", True):
            self.history.truncate(epochs=epoch + 1)
            return epoch + 1
        # Saved mid-epoch by an interrupted fit: continue that epoch after its done steps.
        self._resume_steps = int(metadata["epoch_steps"])
        self.history.truncate(epochs=epoch, keep_steps_of=epoch)
        return epoch

    def _check_config(self, metadata: Mapping[str, Any]) -> None:
        current = self._steps.config
        saved = metadata.get("config")
        if current is None or saved is None:
            return
        changed = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
        if changed:
            warnings.warn(
                "resuming with a VAE config that differs from the checkpoint's "
                f"(field: (checkpoint, now)): {changed}; the run will not match an "
                "uninterrupted one",
                UserWarning,
                stacklevel=4,
            )

    def _load_callback_states(self, saved: list[Mapping[str, Any]]) -> None:
        # The n-th callback of a class takes the state of the n-th saved one of that class,
        # so callbacks without state may come and go between a run and its resume.
        unused = list(saved)
        for callback in self.callbacks:
            name = type(callback).__name__
            entry = next((e for e in unused if e["class"] == name), None)
            if entry is not None:
                unused.remove(entry)
                callback.load_state_dict(entry["state"])
        lost = [entry["class"] for entry in unused if entry["state"]]
        if lost:
            warnings.warn(
                f"the checkpoint holds the state of callbacks {lost}, which this fit does not "
                "have; that state is not restored",
                UserWarning,
                stacklevel=4,
            )


def _chain(first: Batch, rest: Iterator[Batch]) -> Iterator[Batch]:
    yield first
    yield from rest
