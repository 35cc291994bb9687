"""`Engine`: what a stateful trainer needs from the functional core, in one object.

An engine holds a `TrainState` between steps (for an NNX model, in the user's own
Variables) and runs a given `TrainStep` on it, compiled once per step, kind and donation.
The step number is an argument of the compiled function, so a new step never recompiles.
It knows nothing of the losses it runs: the trainers build the `TrainStep`s.
"""

import dataclasses
from collections.abc import Callable
from typing import Literal, NamedTuple, TypeVar, cast, final

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import (
    Batch,
    Metrics,
    Model,
    NonFinite,
    OptimizerLike,
    StateLeaves,
    StepLike,
    StepMetrics,
    Weights,
)
from .._sharding import DataParallel
from .._validation import checked_choice, checked_step
from ..core._nonfinite import NonFiniteStepError, describe_nonfinite, first_skipped
from ..core._step_options import StepOptions
from ..core._train_state import TrainState
from ..core._train_step import NONFINITE_CHOICES, TrainStep
from ..frameworks._seam import framework_of
from ._state_holder import StateHolder

Kind = Literal["step", "steps", "evaluate"]
"""A compiled function's kind: one step, fused steps (`lax.scan`), or an evaluation."""


_TrainFn = Callable[[StateLeaves, Batch, StepLike], tuple[StateLeaves, StepMetrics]]
_EvaluateFn = Callable[[StateLeaves, Batch, StepLike], tuple[Float[Array, ""], Metrics]]


_Function = TypeVar("_Function", _TrainFn, _EvaluateFn)


class _CacheKey(NamedTuple):
    """A compiled function's key: its kind, the `TrainStep` it runs (by identity: the
    cache keeps that object alive, so its id is not reused), whether it donates, and
    which parameters an evaluation uses."""

    kind: Kind
    train_step: int
    donate: bool
    weights: Weights = "trained"


def refuse_tracers(batch: Batch) -> None:
    """Steps run their own compiled function: a traced batch means a misuse under jit."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(batch)):
        raise TypeError(
            "a trainer's steps run their own compiled function and cannot be called inside "
            "jax.jit or another JAX transformation; use create_loss_fn(step) there instead"
        )


def _describe_leaves(leaves: StateLeaves) -> str:
    shown = ", ".join(f"{jnp.result_type(leaf)}{list(jnp.shape(leaf))}" for leaf in leaves[:6])
    more = f", ... ({len(leaves)} arrays)" if len(leaves) > 6 else ""
    return f"[{shown}{more}]"


def _at_step(state: TrainState, step: StepLike) -> TrainState:
    return dataclasses.replace(state, step=jnp.asarray(step, jnp.int32))


@final
class Engine:
    """Runs `TrainStep`s on a training state that it holds between steps.

    The state lives where the model's framework keeps it: for a Flax NNX model in the
    user's own `nnx.Variable`s (so the model and `nnx.Optimizer` passed in always hold
    the trained state), for an Equinox model in the engine. Each `TrainStep` is compiled
    once per kind (one step, fused steps, evaluation) and donation; the step number is an
    argument of the compiled function, so a new step never recompiles. `VAETrainer` and
    `LossFnTrainer` each own one and build the `TrainStep`s it runs; `Trainer.fit` runs
    them on it.

    Args:
        model: an `nnx.Module` or an `eqx.Module`.
        optimizer: its `nnx.Optimizer`, or an optax optimizer for an Equinox model.
        key: the base PRNG key; defaults to `jax.random.key(0)`.
        donate: donate the state's buffers to each step by default.
        nonfinite: what a step whose loss or gradients are not finite does: `"skip"`
            (leave the state as it was; the default), `"raise"` (the same, then raise
            `NonFiniteStepError`) or `"apply"` (apply the update anyway).
        mesh: train data-parallel over this mesh (see `distribute`).
        data_axis: the mesh axis that splits batches (for a mesh of several axes).
        options: the options of the `TrainStep`s it will run (an average of the
            parameters and a loss scale are part of the state); the defaults when None.

    Raises:
        TypeError: when the optimizer does not fit the model, or the model is neither an
            NNX nor an Equinox module.
    """

    def __init__(
        self,
        model: Model,
        optimizer: OptimizerLike,
        *,
        key: PRNGKeyArray | None = None,
        donate: bool = False,
        nonfinite: NonFinite = "skip",
        mesh: Mesh | None = None,
        data_axis: str | None = None,
        options: StepOptions | None = None,
    ) -> None:
        checked_choice("", "nonfinite", nonfinite, NONFINITE_CHOICES)
        key = jax.random.key(0) if key is None else key
        self.options: StepOptions = StepOptions() if options is None else options
        """The options of the steps this engine runs (see `TrainStep`)."""
        self._holder = StateHolder(framework_of(model).bind(model, optimizer), key, self.options)
        self.donate: bool = donate
        """Whether steps donate the state's buffers unless told otherwise."""
        self.nonfinite: NonFinite = nonfinite
        """What a step with a non-finite loss or gradient does (see the arguments)."""
        self._step = 0
        self._train_fns: dict[_CacheKey, tuple[TrainStep, _TrainFn]] = {}
        self._evaluate_fns: dict[_CacheKey, tuple[TrainStep, _EvaluateFn]] = {}
        self._parallel: DataParallel | None = None
        if mesh is not None:
            self.distribute(mesh, data_axis=data_axis)

    # -- the state ---------------------------------------------------------------------

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """The optax transformation a `TrainStep` applies to this engine's state (for an
        `nnx.Optimizer`, its `tx` with the optimizer's step counter beside it)."""
        return self._holder.optimizer

    @property
    def live_optimizer(self) -> OptimizerLike | None:
        """The optimizer object passed in when it holds the state in place (an
        `nnx.Optimizer`); None for an optax optimizer, whose state the engine holds."""
        return self._holder.live_optimizer

    @property
    def model(self) -> Model:
        """The model with the current parameters (for NNX, the object passed in)."""
        return self._holder.model

    @property
    def ema_model(self) -> Model:
        """The model with the average of the parameters (see `TrainState.ema_model`).

        Raises:
            ValueError: when the steps keep no average (no `ema_decay`).
        """
        return self._holder.state.ema_model

    @property
    def step(self) -> int:
        """The step the next training step runs when not told otherwise."""
        return self._step

    @property
    def state(self) -> TrainState:
        """The training state: parameters, optimizer state, step, key, skipped steps."""
        return self._holder.state

    @property
    def key(self) -> PRNGKeyArray:
        """The base PRNG key; step `s` draws its noise from `fold_in(key, s)`."""
        return self._holder.state.key

    def load_state(self, state: TrainState) -> None:
        """Continue from `state`, e.g. one restored from a checkpoint, key included.

        Raises:
            ValueError: if its structure, shapes or dtypes differ from this engine's model
                and optimizer.
        """
        leaves, treedef = jax.tree.flatten(state)
        current = self._holder.read()
        if treedef != self._holder.treedef or any(
            jnp.shape(new) != jnp.shape(old) or jnp.result_type(new) != jnp.result_type(old)
            for new, old in zip(leaves, current, strict=True)
        ):
            raise ValueError(
                "the state does not match this trainer's model and optimizer (structure, "
                f"shapes or dtypes differ): expected {_describe_leaves(current)}, "
                f"got {_describe_leaves(leaves)}"
            )
        if self._parallel is not None:
            leaves = self._parallel.replicate(leaves)
        self._holder.write(leaves)
        self._step = int(state.step)

    # -- data parallelism --------------------------------------------------------------

    @property
    def mesh(self) -> Mesh | None:
        """The mesh the steps run on, data-parallel; None on one device."""
        return None if self._parallel is None else self._parallel.mesh

    def distribute(self, mesh: Mesh, *, data_axis: str | None = None) -> None:
        """Train data-parallel over `mesh` from now on.

        Batches are split along the mesh axis `data_axis` (which a one-axis mesh need not
        name), the training state is replicated on every device, and each step is compiled
        once with those shardings. The loss and metrics are those of the whole global
        batch. With several processes (see `elbox.distributed`), each process passes its
        own share of every global batch.

        Raises:
            ValueError: when `data_axis` is not an axis of `mesh`.
        """
        parallel = DataParallel(mesh, data_axis)
        self._holder.write(parallel.replicate(self._holder.read()))
        self._parallel = parallel
        self._train_fns.clear()
        self._evaluate_fns.clear()

    # -- running steps -----------------------------------------------------------------

    def resolve_step(self, step: object | None) -> int:
        """`step` checked, or this engine's counter when it is None."""
        return self._step if step is None else checked_step(step)

    def train(
        self,
        train_step: TrainStep,
        batch: Batch,
        *,
        step: int | None = None,
        donate: bool | None = None,
    ) -> StepMetrics:
        """Run `train_step` on `batch` at `step` (default: the counter) and keep the new
        state; the counter becomes `step + 1`.

        Returns:
            The step's metrics, as JAX scalars: reading them waits for the step.

        Raises:
            NonFiniteStepError: after a skipped step, when `nonfinite="raise"`.
        """
        return self._run("step", train_step, batch, step, 1, donate)

    def train_fused(
        self,
        train_step: TrainStep,
        batches: Batch,
        count: int,
        *,
        step: int | None = None,
        donate: bool | None = None,
    ) -> StepMetrics:
        """Run `train_step` on `count` batches stacked along a leading axis, in one
        dispatch (`lax.scan`); equal to `count` calls of `train`.

        Returns:
            The metrics, each of shape `(count,)`.
        """
        return self._run("steps", train_step, batches, step, count, donate)

    def evaluate(
        self,
        train_step: TrainStep,
        batch: Batch,
        *,
        step: int | None = None,
        weights: Weights = "trained",
    ) -> tuple[Float[Array, ""], Metrics]:
        """`train_step.evaluate` on the current state at `step` (default: the counter),
        with the `"trained"` parameters or their `"ema"`: `(loss, metrics)`, changing
        nothing.

        Raises:
            ValueError: for `weights="ema"` when the steps keep no average.
        """
        current = self._step if step is None else step
        if weights == "ema" and self.options.average is None:
            raise ValueError(
                "weights='ema' needs an average of the parameters: make the trainer with "
                "ema_decay=..."
            )
        key = _CacheKey("evaluate", id(train_step), False, weights)
        cached = self._evaluate_fns.get(key)
        if cached is None:
            evaluation = self._evaluation(train_step, weights)
            cached = (train_step, self._jit(evaluation, "evaluate", False))
            self._evaluate_fns[key] = cached
        fn = cached[1]
        if self._parallel is not None:
            batch = self._parallel.place_batch(batch, stacked=False)
        loss, metrics = fn(self._holder.read(), batch, current)
        return loss, metrics

    def _run(
        self,
        kind: Kind,
        train_step: TrainStep,
        batch: Batch,
        step: int | None,
        count: int,
        donate: bool | None,
    ) -> StepMetrics:
        current = self._step if step is None else step
        fn = self._train_fn(kind, train_step, self.donate if donate is None else donate)
        if self._parallel is not None:
            batch = self._parallel.place_batch(batch, stacked=kind == "steps")
        leaves, metrics = fn(self._holder.read(), batch, current)
        self._holder.write(leaves)
        self._step = current + count
        if self.nonfinite == "raise":
            found = first_skipped(metrics, current)
            if found is not None:
                bad_step, loss = found
                raise NonFiniteStepError(
                    f"{describe_nonfinite(bad_step, loss)}; the step was not applied "
                    "(nonfinite='raise'), so the parameters and optimizer state are those "
                    "from before it",
                    steps=[bad_step],
                )
        return metrics

    def lower(
        self, train_step: TrainStep, batch: Batch, *, donate: bool | None = None
    ) -> jax.stages.Lowered:
        """The compiled function of one step of `train_step`, the one `train` runs, lowered
        for `batch`: `.compile().memory_analysis()` gives XLA's accounting of its memory."""
        fn = self._train_fn("step", train_step, self.donate if donate is None else donate)
        return cast(jax.stages.Wrapped, fn).lower(self._holder.read(), batch, self._step)

    def _train_fn(self, kind: Kind, train_step: TrainStep, donate: bool) -> _TrainFn:
        key = _CacheKey(kind, id(train_step), donate)
        cached = self._train_fns.get(key)
        if cached is None:
            self._check_layout(train_step)
            cached = (train_step, self._jit(self._training(kind, train_step), kind, donate))
            self._train_fns[key] = cached
        return cached[1]

    def _check_layout(self, train_step: TrainStep) -> None:
        """Refuse a step that expects another state: with or without an average of the
        parameters, or a loss scale."""
        ours, theirs = self.options, train_step.options
        if (ours.average is None) != (theirs.average is None) or (
            ours.precision.scales_loss != theirs.precision.scales_loss
        ):
            raise ValueError(
                "this TrainStep's ema_decay or float16 precision does not match the state "
                "the engine holds; build the step with the trainer's options "
                "(trainer.as_train_step())"
            )

    def _training(self, kind: Kind, train_step: TrainStep) -> _TrainFn:
        treedef = self._holder.treedef

        def one_step(
            leaves: StateLeaves, batch: Batch, step: StepLike
        ) -> tuple[StateLeaves, Metrics]:
            state = _at_step(jax.tree.unflatten(treedef, leaves), step)
            state, metrics = train_step(state, batch)
            return jax.tree.leaves(state), metrics

        def many_steps(
            leaves: StateLeaves, batches: Batch, step: StepLike
        ) -> tuple[StateLeaves, StepMetrics]:
            state = _at_step(jax.tree.unflatten(treedef, leaves), step)

            def scanned(state: TrainState, batch: object) -> tuple[TrainState, Metrics]:
                # scan slices the stacked batches: each slice is one batch.
                return train_step(state, cast(Batch, batch))

            state, metrics = jax.lax.scan(scanned, state, batches)
            return jax.tree.leaves(state), metrics

        return one_step if kind == "step" else many_steps

    def _evaluation(self, train_step: TrainStep, weights: Weights) -> _EvaluateFn:
        treedef = self._holder.treedef

        def evaluate(
            leaves: StateLeaves, batch: Batch, step: StepLike
        ) -> tuple[Float[Array, ""], Metrics]:
            state = _at_step(jax.tree.unflatten(treedef, leaves), step)
            return train_step.evaluate(state, batch, weights=weights)

        return evaluate

    def _jit(self, function: _Function, kind: Kind, donate: bool) -> _Function:
        """`function` compiled for this engine's placement, donating the state or not."""
        if self._parallel is None:
            return jax.jit(function, donate_argnums=(0,) if donate else ())
        replicated = self._parallel.replicated
        data = self._parallel.batch_sharding(stacked=kind == "steps")
        return jax.jit(
            function,
            donate_argnums=(0,) if donate else (),
            in_shardings=(replicated, data, replicated),
            out_shardings=replicated,
        )
