"""`AbstractTrainer`: the stateful shell over the functional core that every trainer shares.

A trainer holds a `TrainState` (in an `AbstractStateHolder`: the user's NNX Variables, or
a list of arrays for Equinox) and runs the core's `TrainStep` on it, compiled once per
loss and input shape. The step number is an argument of the compiled function, so a new
step never recompiles.
"""

import abc
import dataclasses
import numbers
from collections.abc import Callable, Hashable
from typing import Any, Generic, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import Batch, Metrics, ModelT, NonFinite, StepLike
from .._sharding import DataParallel
from .._validation import checked_choice
from ..core._nonfinite import NonFiniteStepError, describe_nonfinite, first_skipped
from ..core._train_state import TrainState
from ..core._train_step import NONFINITE_CHOICES, TrainStep
from ..frameworks._model_def import check_takes_key, is_nnx_module
from ._loop_steps import LoopSteps
from ._state_holder import AbstractStateHolder, ArrayStateHolder

Kind = Literal["step", "steps", "evaluate"]
_Compiled = Callable[[list[Any], Any, int], tuple[Any, ...]]


def make_state_holder(model: Any, optimizer: Any, key: PRNGKeyArray) -> AbstractStateHolder:
    """The state holder of `model`'s framework, after checking the optimizer fits it."""
    if is_nnx_module(model):
        from ..frameworks._nnx import nnx_state_holder

        return nnx_state_holder(model, optimizer, key)
    if isinstance(model, eqx.Module):
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                "an Equinox model is trained with an optax.GradientTransformation, e.g. "
                f"optax.adam(1e-4); got {type(optimizer).__name__}"
            )
        check_takes_key(model)
        return ArrayStateHolder(TrainStep(_no_loss, optimizer).init(model, key=key), optimizer)
    raise TypeError(
        "a trainer takes a Flax nnx.Module (with an nnx.Optimizer) or an Equinox eqx.Module "
        f"(with an optax.GradientTransformation); got {type(model).__name__}"
    )


def _no_loss(step: Any) -> Any:  # pragma: no cover - `init` never calls the loss
    raise AssertionError("TrainStep.init does not evaluate the loss")


def checked_step(step: object) -> int:
    """`step` as a non-negative Python int, or a clear error."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be a Python or NumPy integer; got {type(step).__name__}")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}")
    return int(step)


def refuse_tracers(batch: Any) -> None:
    """Steps run their own compiled function: a traced batch means a misuse under jit."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(batch)):
        raise TypeError(
            "a trainer's steps run their own compiled function and cannot be called inside "
            "jax.jit or another JAX transformation; use create_loss_fn(step) there instead"
        )


def _describe_leaves(leaves: list[Any]) -> str:
    shown = ", ".join(f"{jnp.result_type(leaf)}{list(jnp.shape(leaf))}" for leaf in leaves[:6])
    more = f", ... ({len(leaves)} arrays)" if len(leaves) > 6 else ""
    return f"[{shown}{more}]"


def _at_step(state: TrainState, step: Any) -> TrainState:
    return dataclasses.replace(state, step=jnp.asarray(step, jnp.int32))


class AbstractTrainer(abc.ABC, Generic[ModelT]):
    """A model and its optimizer, trained in place by the functional core's `TrainStep`.

    Holds what every trainer shares: the training state (for an NNX model, in the user's
    own Variables), the step counter and the compiled steps, one per loss and input shape.
    The step number is an argument of the compiled function, so it never recompiles.
    Subclasses supply the loss (`VAETrainer`: the annealed ELBO; `LossFnTrainer`: any
    `make_loss_fn(step)`) as a `TrainStep`.

    Args:
        model: an `nnx.Module` or an `eqx.Module`.
        optimizer: its `nnx.Optimizer`, or an optax optimizer for an Equinox model.
        key: the base PRNG key; defaults to `jax.random.key(0)`.
        donate: donate the state's buffers to each step (see `VAETrainer`).
        nonfinite: what a step whose loss or gradients are not finite does: `"skip"`
            (leave the state as it was; the default), `"raise"` (the same, then raise
            `NonFiniteStepError`) or `"apply"` (apply the update anyway).
        mesh: train data-parallel over this mesh (see `distribute`).
        data_axis: the mesh axis that splits batches (for a mesh of several axes).
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: nnx.Optimizer[Any] | optax.GradientTransformation,
        *,
        key: PRNGKeyArray | None = None,
        donate: bool = False,
        nonfinite: NonFinite = "skip",
        mesh: Mesh | None = None,
        data_axis: str | None = None,
    ) -> None:
        checked_choice("", "nonfinite", nonfinite, NONFINITE_CHOICES)
        key = jax.random.key(0) if key is None else key
        self._holder: AbstractStateHolder = make_state_holder(model, optimizer, key)
        self._donate = donate
        self._nonfinite: NonFinite = nonfinite
        self._step = 0
        self._compiled: dict[tuple[Kind, Hashable, bool], _Compiled] = {}
        self._parallel: DataParallel | None = None
        if mesh is not None:
            self.distribute(mesh, data_axis=data_axis)

    # -- data parallelism ----------------------------------------------------------------

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
        self._compiled.clear()

    # -- state -----------------------------------------------------------------------

    @property
    def model(self) -> ModelT:
        """The model with the current parameters (for NNX, the object you passed in)."""
        model: ModelT = self._holder.model
        return model

    @property
    def step(self) -> int:
        """The step the next `train_step` runs when called without `step`."""
        return self._step

    @property
    def key(self) -> PRNGKeyArray:
        """The base PRNG key; step `s` draws its noise from `fold_in(key, s)`."""
        return self.state.key

    @property
    def nonfinite(self) -> NonFinite:
        """What a step with a non-finite loss or gradient does (see the constructor)."""
        return self._nonfinite

    @property
    def state(self) -> TrainState:
        """The training state: parameters, optimizer state, step, key, skipped steps."""
        state: TrainState = jax.tree.unflatten(self._holder.treedef, self._holder.read())
        return state

    def load_state(self, state: TrainState) -> None:
        """Continue from `state`, e.g. one restored from a checkpoint, key included.

        Raises:
            ValueError: if its structure, shapes or dtypes differ from this trainer's model
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

    # -- compiled steps --------------------------------------------------------------

    @abc.abstractmethod
    def _core_step(self, variant: Hashable) -> TrainStep:
        """The core's `TrainStep` for a loss variant (e.g. a loss type), built on demand."""

    def _resolve_step(self, step: StepLike | None) -> int:
        return self._step if step is None else checked_step(step)

    def _compile(self, kind: Kind, train_step: TrainStep, donate: bool) -> _Compiled:
        treedef = self._holder.treedef

        def one_step(leaves: list[Any], batch: Any, step: Any) -> tuple[list[Any], Metrics]:
            state = _at_step(jax.tree.unflatten(treedef, leaves), step)
            state, metrics = train_step(state, batch)
            return jax.tree.leaves(state), metrics

        def many_steps(leaves: list[Any], batches: Any, step: Any) -> tuple[list[Any], Any]:
            state = _at_step(jax.tree.unflatten(treedef, leaves), step)
            state, metrics = jax.lax.scan(train_step, state, batches)
            return jax.tree.leaves(state), metrics

        def evaluate(leaves: list[Any], batch: Any, step: Any) -> tuple[Any, Metrics]:
            state = _at_step(jax.tree.unflatten(treedef, leaves), step)
            return train_step.evaluate(state, batch)

        shardings: dict[str, Any] = {}
        if self._parallel is not None:
            replicated = self._parallel.replicated
            data = self._parallel.batch_sharding(stacked=kind == "steps")
            shardings = {
                "in_shardings": (replicated, data, replicated),
                "out_shardings": replicated,
            }
        if kind == "evaluate":
            return jax.jit(evaluate, **shardings)
        step_fn = one_step if kind == "step" else many_steps
        return jax.jit(step_fn, donate_argnums=(0,) if donate else (), **shardings)

    def _compiled_fn(self, kind: Kind, variant: Hashable, *, donate: bool = False) -> _Compiled:
        cache_key = (kind, variant, donate and kind != "evaluate")
        fn = self._compiled.get(cache_key)
        if fn is None:
            fn = self._compile(kind, self._core_step(variant), cache_key[2])
            self._compiled[cache_key] = fn
        return fn

    def _run_steps(
        self,
        variant: Hashable,
        batch: Any,
        step: int,
        count: int,
        *,
        stacked: bool,
        donate: bool | None = None,
    ) -> dict[str, Array]:
        """Run a compiled step (or `count` fused steps) and write the new state back.

        Returns the metrics: scalars, or for fused steps arrays of shape `(count,)`.
        """
        donate = self._donate if donate is None else donate
        fn = self._compiled_fn("steps" if stacked else "step", variant, donate=donate)
        if self._parallel is not None:
            batch = self._parallel.place_batch(batch, stacked=stacked)
        leaves, metrics = fn(self._holder.read(), batch, step)
        self._holder.write(leaves)
        self._step = step + count
        result: dict[str, Array] = metrics
        if self._nonfinite == "raise":
            found = first_skipped(metrics, step)
            if found is not None:
                bad_step, loss = found
                raise NonFiniteStepError(
                    f"{describe_nonfinite(bad_step, loss)}; the step was not applied "
                    "(nonfinite='raise'), so the parameters and optimizer state are those "
                    "from before it",
                    steps=[bad_step],
                )
        return result

    def _run_evaluate(
        self, variant: Hashable, batch: Any, step: int
    ) -> tuple[Float[Array, ""], Metrics]:
        fn = self._compiled_fn("evaluate", variant)
        if self._parallel is not None:
            batch = self._parallel.place_batch(batch, stacked=False)
        loss, metrics = fn(self._holder.read(), batch, step)
        return loss, metrics

    # -- what the training loop calls ---------------------------------------------------

    @abc.abstractmethod
    def train_step(
        self, batch: Batch, *, step: StepLike | None = None
    ) -> tuple[Float[Array, ""], Metrics]:
        """One optimisation step on `batch`: `(loss, metrics)`."""

    @abc.abstractmethod
    def train_steps(
        self, batches: Batch, *, step: StepLike | None = None
    ) -> tuple[Float[Array, " steps"], dict[str, Float[Array, " steps"]]]:
        """K steps in one dispatch on batches stacked along a leading axis."""

    @abc.abstractmethod
    def evaluate(self, batch: Batch, *, step: StepLike | None = None) -> Metrics:
        """Validation metrics on `batch` at `step`, updating nothing."""

    @abc.abstractmethod
    def loop_steps(self, *, loss_type: Any = None, donate: bool = True) -> LoopSteps:
        """The steps `Trainer.fit` runs, with its options bound.

        Args:
            loss_type: the reconstruction loss (for a `VAETrainer`; None for its default).
            donate: donate the state's buffers to each step (the loop owns the state
                between steps, so it does by default).

        Raises:
            TypeError: for an option this trainer does not take.
        """
