"""`Trainer`: the epoch loop around a VAETrainer, with validation, callbacks and resume."""

import functools
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh
from jaxtyping import Array, PRNGKeyArray

from .._base_trainer import AbstractTrainer
from .._batch import BATCH_KEYS, batch_data
from .._custom_types import Batch, LossFnFactory, Metrics
from .._loss_fn_trainer import LossFnTrainer
from .._trainer import LossType, VAETrainer
from .._validation import checked_int
from ._callback import Callback
from ._history import History
from ._model_checkpoint import ModelCheckpoint

TrainData = Iterable[Batch] | Callable[[int], Iterable[Batch]]
"""Batches: a re-iterable (list, `elbox.data.batches`, a grain or PyTorch loader yielding
NumPy arrays) or a callable `epoch -> iterable of batches`."""

CHECKPOINT_FORMAT = 1

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


def _stack(batches: list[Batch]) -> Any:
    def stack(*leaves: Any) -> Any:
        if all(isinstance(leaf, np.ndarray) for leaf in leaves):
            return np.stack(leaves)
        return jnp.stack(leaves)

    return jax.tree.map(stack, *batches)


def _to_host(metrics: Mapping[str, Array], count: int) -> list[dict[str, float]]:
    host = {name: np.asarray(value) for name, value in metrics.items()}
    if count == 1 and all(value.ndim == 0 for value in host.values()):
        return [{name: float(value) for name, value in host.items()}]
    return [{name: float(value[i]) for name, value in host.items()} for i in range(count)]


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


@final
class Trainer:
    """Trains over epochs: validation, callbacks, checkpoints and exact resume.

    Drives a `VAETrainer` (NNX or Equinox), or any loss through `Trainer.from_loss_fn`.
    Each epoch logs the means of the step metrics and, with validation data, `val_loss`,
    `val_recon_loss`, `val_kl_loss` and `val_neg_elbo` (the unannealed negative ELBO: KL
    weight 1, no free bits).

    Callbacks read the loop's state from these attributes: `engine` (the trainer whose
    steps run), `callbacks`, `loss_type`, `history` (the `History` so far), `epoch` (the
    current epoch, from 0), `epochs` (the total), `steps_per_epoch` (None when the data
    has no length), `should_stop` and `stop_reason` (set by `request_stop`) and
    `resumed_from`.

    Args:
        trainer: the `VAETrainer` (or other `AbstractTrainer`) whose steps to run.
        callbacks: `Callback`s, called in order.
        loss_type: the reconstruction loss for a `VAETrainer` (default `"mse"`).
        steps_per_dispatch: K > 1 stacks K batches and runs them as one fused dispatch
            (`train_steps`); callbacks still see every step's metrics.
        mesh: train data-parallel over this mesh (`trainer.distribute(mesh)`): each batch
            is split over the mesh's devices. With several processes each one passes its
            share of every global batch; only process 0 writes logs.

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
        loss_type: LossType | None = None,
        steps_per_dispatch: int = 1,
        mesh: Mesh | None = None,
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
        self.engine: AbstractTrainer[Any] = trainer
        if mesh is not None:
            trainer.distribute(mesh)
        self.callbacks: list[Callback] = list(callbacks)
        self.steps_per_dispatch: int = steps_per_dispatch
        if isinstance(trainer, VAETrainer):
            self.loss_type: LossType | None = "mse" if loss_type is None else loss_type
            self._train_step: Callable[[Batch], tuple[Any, Metrics]] = functools.partial(
                trainer.train_step, loss_type=self.loss_type
            )
            self._train_steps: Callable[[Batch], tuple[Any, Metrics]] = functools.partial(
                trainer.train_steps, loss_type=self.loss_type
            )
            self._evaluate: Callable[[Batch], Metrics] = functools.partial(
                trainer.evaluate, loss_type=self.loss_type
            )
        else:
            if loss_type is not None:
                raise TypeError(
                    "loss_type applies to a VAETrainer; its loss is fixed by make_loss_fn"
                )
            self.loss_type = None
            self._train_step, self._train_steps, self._evaluate = (
                trainer.train_step,
                trainer.train_steps,
                trainer.evaluate,
            )
        self.history: History = History()
        self.epoch: int = 0
        self.epochs: int = 0
        self.steps_per_epoch: int | None = None
        self.should_stop: bool = False
        self.stop_reason: str | None = None
        self.resumed_from: tuple[int, int] | None = None
        """`(epoch, step)` of the checkpoint this fit resumed from, if it did."""

    @classmethod
    def from_loss_fn(
        cls,
        model: Any,
        optimizer: nnx.Optimizer[Any] | optax.GradientTransformation,
        make_loss_fn: LossFnFactory[Any],
        *,
        callbacks: Sequence[Callback] = (),
        steps_per_dispatch: int = 1,
        key: PRNGKeyArray | None = None,
        donate: bool = False,
        mesh: Mesh | None = None,
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
            donate: donate the training state's buffers to each step.
            mesh: train data-parallel over this mesh.

        Returns:
            A Trainer driving a `LossFnTrainer`.
        """
        engine = LossFnTrainer(model, optimizer, make_loss_fn, key=key, donate=donate, mesh=mesh)
        return cls(engine, callbacks=callbacks, steps_per_dispatch=steps_per_dispatch)

    # -- the stop flag ---------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Stop after the current step and epoch bookkeeping; `reason` goes in the history."""
        if not self.should_stop:
            self.should_stop = True
            self.stop_reason = reason

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
            resume: continue from the latest checkpoint of the `ModelCheckpoint` callback;
                with no checkpoint there yet, start from scratch (with a warning).

        Returns:
            The `History` of the whole run (a resumed run's includes the epochs before).

        Raises:
            ValueError: for empty training or validation data, before any step.
        """
        epochs = checked_int("", "epochs", epochs, 1)
        train_source = _epoch_source(train_data, "train_data")
        val_source = None if val_data is None else _epoch_source(val_data, "val_data")
        self.epochs = epochs
        self.steps_per_epoch = len(train_data) if isinstance(train_data, Sized) else None
        self.should_stop, self.stop_reason, self.resumed_from = False, None, None
        self.history = History()
        checkpoints = [cb for cb in self.callbacks if isinstance(cb, ModelCheckpoint)]
        try:
            for checkpoint in checkpoints:
                checkpoint.store  # noqa: B018  # unwritable folders fail before any step
            start = self._resume(checkpoints) if resume else 0
            if start >= self.epochs:
                return self.history
            first_epoch = self._non_empty(train_source, start)
            for callback in self.callbacks:
                callback.on_fit_start(self)
            for epoch in range(start, self.epochs):
                batches = first_epoch if epoch == start else iter(train_source(epoch))
                self._run_epoch(epoch, batches, val_source)
                if self.should_stop:
                    break
            self.history.stop_reason = self.stop_reason
            for callback in self.callbacks:
                callback.on_fit_end(self)
        finally:
            for checkpoint in checkpoints:
                checkpoint.close()
        return self.history

    def _non_empty(self, source: Callable[[int], Iterable[Batch]], epoch: int) -> Iterator[Batch]:
        iterator = iter(source(epoch))
        first = next(iterator, None)
        if first is None:
            raise ValueError(
                f"train_data yielded no batches for epoch {epoch}; nothing to train on"
            )
        return _chain(first, iterator)

    def _run_epoch(
        self,
        epoch: int,
        batches: Iterator[Batch],
        val_source: Callable[[int], Iterable[Batch]] | None,
    ) -> None:
        self.epoch = epoch
        for callback in self.callbacks:
            callback.on_epoch_start(self, epoch)
        start_time, first_row = time.perf_counter(), self.history.num_steps
        self._train_epoch(epoch, batches)
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
        pending: deque[tuple[int, Metrics, int]] = deque()
        fused = self.steps_per_dispatch

        def drain(keep: int) -> None:
            while len(pending) > keep:
                first, metrics, count = pending.popleft()
                for offset, values in enumerate(_to_host(metrics, count)):
                    self.history.record_step(first + offset, epoch, values)
                    for callback in step_callbacks:
                        callback.on_step_end(self, first + offset, values)

        chunk: list[Batch] = []
        for batch in batches:
            first = self.engine.step
            if fused == 1:
                _, metrics = self._train_step(batch)
                pending.append((first, metrics, 1))
            else:
                chunk.append(batch)
                if len(chunk) < fused:
                    continue
                _, metrics = self._train_steps(_stack(chunk))
                pending.append((first, metrics, fused))
                chunk = []
            drain(_METRICS_LAG)
            if self.should_stop:
                break
        if not self.should_stop:
            for batch in chunk:  # the epoch's last batches that do not fill a dispatch
                first = self.engine.step
                pending.append((first, self._train_step(batch)[1], 1))
        drain(0)

    def _validate(self, source: Callable[[int], Iterable[Batch]]) -> dict[str, float]:
        results: list[tuple[int, Metrics]] = []
        for batch in source(0):
            results.append((_leading_size(batch), self._evaluate(batch)))
        total = sum(size for size, _ in results)
        if total == 0:
            raise ValueError("val_data yielded no batches")
        sums: dict[str, float] = {}
        for size, metrics in results:
            for name, value in _to_host(metrics, 1)[0].items():
                sums[name] = sums.get(name, 0.0) + size * value
        skip = {"kl_weight"} if isinstance(self.engine, VAETrainer) else set()
        return {f"val_{name}": value / total for name, value in sums.items() if name not in skip}

    # -- checkpoints and resume ------------------------------------------------------

    def checkpoint_metadata(self, epoch: int) -> dict[str, Any]:
        """What a checkpoint stores besides the arrays: enough for an exact resume."""
        config = self.engine.config.to_dict() if isinstance(self.engine, VAETrainer) else None
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "step": self.engine.step,
            "epochs": self.epochs,
            "config": config,
            "loss_type": self.loss_type if isinstance(self.loss_type, str) else None,
            "callbacks": [
                {"class": type(callback).__name__, "state": callback.state_dict()}
                for callback in self.callbacks
            ],
            "history": self.history.to_dict(),
        }

    def _resume(self, checkpoints: list[ModelCheckpoint]) -> int:
        if not checkpoints:
            raise ValueError(
                "fit(resume=True) needs a ModelCheckpoint callback: its folder holds the "
                "checkpoints to resume from"
            )
        store = checkpoints[0].store
        if store.latest_step() is None:
            warnings.warn(
                f"resume=True but {checkpoints[0].dirpath} holds no checkpoint yet; "
                "training starts from scratch",
                UserWarning,
                stacklevel=3,
            )
            return 0
        state, metadata, step = store.restore(self.engine.state, which="latest")
        self.engine.load_state(state)
        epoch = int(metadata["epoch"])
        self._check_config(metadata)
        self.history = History.from_dict(metadata["history"])
        self.history.truncate(epochs=epoch + 1)
        self._load_callback_states(metadata["callbacks"])
        self.resumed_from = (epoch, step)
        return epoch + 1

    def _check_config(self, metadata: Mapping[str, Any]) -> None:
        if isinstance(self.engine, VAETrainer) and metadata.get("config") is not None:
            saved, current = metadata["config"], self.engine.config.to_dict()
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
