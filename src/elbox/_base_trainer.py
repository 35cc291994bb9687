"""The machinery every trainer shares: backends, the step counter, compiled steps, state."""

import abc
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

from ._backend import AbstractBackend
from ._custom_types import Batch, LossFnFactory, Metrics, ModelT, StepLike
from ._equinox_backend import EquinoxBackend
from ._nnx_backend import NNXBackend
from ._sharding import DataParallel
from ._train_state import TrainState

Kind = Literal["step", "steps", "evaluate"]
_Compiled = Callable[[list[Any], Any, int], tuple[Any, ...]]


def make_backend(model: Any, optimizer: Any) -> AbstractBackend[Any]:
    """The backend for `model`'s framework, after checking the optimizer fits it."""
    if isinstance(model, nnx.Module):
        if not isinstance(optimizer, nnx.Optimizer):
            raise TypeError(
                "a Flax NNX model is trained with an nnx.Optimizer, e.g. "
                "nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param); "
                f"got {type(optimizer).__name__}"
            )
        return NNXBackend(model, optimizer)
    if isinstance(model, eqx.Module):
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                "an Equinox model is trained with an optax.GradientTransformation, e.g. "
                f"optax.adam(1e-4); got {type(optimizer).__name__}"
            )
        return EquinoxBackend(model, optimizer)
    raise TypeError(
        "a trainer takes a Flax nnx.Module (with an nnx.Optimizer) or an Equinox eqx.Module "
        f"(with an optax.GradientTransformation); got {type(model).__name__}"
    )


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


class AbstractTrainer(abc.ABC, Generic[ModelT]):
    """A model and its optimizer, trained by steps compiled once.

    Holds what every trainer shares: the framework backend, the step counter, the base
    PRNG key and the compiled step functions, one per (kind, loss) and input shape. The
    step number is an argument of the compiled function, so it never recompiles.
    Subclasses supply the loss (`VAETrainer`: the annealed ELBO; `LossFnTrainer`: any
    `make_loss_fn(step)`).
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: nnx.Optimizer[Any] | optax.GradientTransformation,
        *,
        key: PRNGKeyArray | None = None,
        donate: bool = False,
        mesh: Mesh | None = None,
        data_axis: str | None = None,
    ) -> None:
        self._backend: AbstractBackend[ModelT] = make_backend(model, optimizer)
        self._key: PRNGKeyArray = jax.random.key(0) if key is None else key
        self._donate = donate
        self._step = 0
        self._compiled: dict[tuple[Kind, Hashable], _Compiled] = {}
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
        name), the model and optimizer state are replicated on every device, and each step
        is compiled once with those shardings. The loss and metrics are those of the whole
        global batch. With several processes (see `elbox.distributed`), each process
        passes its own share of every global batch.

        Raises:
            ValueError: when `data_axis` is not an axis of `mesh`.
        """
        parallel = DataParallel(mesh, data_axis)
        self._backend.write(parallel.replicate(self._backend.read()))
        self._key = parallel.replicate([self._key])[0]
        self._parallel = parallel
        self._compiled.clear()

    # -- state -----------------------------------------------------------------------

    @property
    def model(self) -> ModelT:
        """The model with the current parameters (for NNX, the object you passed in)."""
        return self._backend.model

    @property
    def step(self) -> int:
        """The step the next `train_step` runs when called without `step`."""
        return self._step

    @property
    def key(self) -> PRNGKeyArray:
        """The base PRNG key; step `s` draws its noise from `fold_in(key, s)`."""
        return self._key

    @property
    def state(self) -> TrainState:
        """A snapshot of the training state (for checkpoints)."""
        params, opt_state = jax.tree.unflatten(self._backend.treedef, self._backend.read())
        step = jnp.asarray(self._step, dtype=jnp.int32)
        if self._parallel is not None:
            step = self._parallel.replicate([step])[0]
        return TrainState(params=params, opt_state=opt_state, step=step, key=self._key)

    def load_state(self, state: TrainState) -> None:
        """Continue from `state`, e.g. one restored from a checkpoint.

        Raises:
            ValueError: if its structure, shapes or dtypes differ from this trainer's model
                and optimizer.
        """
        leaves, treedef = jax.tree.flatten((state.params, state.opt_state))
        current = self._backend.read()
        if treedef != self._backend.treedef or any(
            jnp.shape(new) != jnp.shape(old) or jnp.result_type(new) != jnp.result_type(old)
            for new, old in zip(leaves, current, strict=True)
        ):
            raise ValueError(
                "the state does not match this trainer's model and optimizer (structure, "
                f"shapes or dtypes differ): expected {_describe_leaves(current)}, "
                f"got {_describe_leaves(leaves)}"
            )
        key = state.key
        if self._parallel is not None:
            leaves = self._parallel.replicate(leaves)
            key = self._parallel.replicate([key])[0]
        self._backend.write(leaves)
        self._step = int(state.step)
        self._key = key

    # -- compiled steps --------------------------------------------------------------

    def _resolve_step(self, step: StepLike | None) -> int:
        return self._step if step is None else checked_step(step)

    def _compile(
        self, kind: Kind, loss: Hashable, make_loss_fn: LossFnFactory[ModelT]
    ) -> _Compiled:
        backend, treedef = self._backend, self._backend.treedef

        def one_step(leaves: list[Any], batch: Any, step: Any) -> tuple[list[Any], Any, Any]:
            params, opt_state = jax.tree.unflatten(treedef, leaves)
            params, opt_state, loss, metrics = backend.update(
                params, opt_state, batch, step, make_loss_fn
            )
            return jax.tree.leaves((params, opt_state)), loss, metrics

        def many_steps(leaves: list[Any], batches: Any, step: Any) -> tuple[list[Any], Any, Any]:
            def body(carry: tuple[list[Any], Any], batch: Any) -> tuple[Any, Any]:
                leaves, step = carry
                leaves, loss, metrics = one_step(leaves, batch, step)
                return (leaves, step + 1), (loss, metrics)

            (leaves, _), (losses, metrics) = jax.lax.scan(body, (leaves, step), batches)
            return leaves, losses, metrics

        def evaluate(leaves: list[Any], batch: Any, step: Any) -> tuple[Any, Any]:
            params, opt_state = jax.tree.unflatten(treedef, leaves)
            return backend.evaluate(params, opt_state, batch, step, make_loss_fn)

        shardings: dict[str, Any] = {}
        if self._parallel is not None:
            replicated = self._parallel.replicated
            data = self._parallel.batch_sharding(stacked=kind == "steps")
            shardings = {
                "in_shardings": (replicated, data, replicated),
                "out_shardings": replicated,
            }
        if kind == "evaluate":
            fn: _Compiled = jax.jit(evaluate, **shardings)
        else:
            donate = (0,) if self._donate else ()
            step_fn = one_step if kind == "step" else many_steps
            fn = jax.jit(step_fn, donate_argnums=donate, **shardings)
        self._compiled[kind, loss] = fn
        return fn

    def _compiled_fn(
        self, kind: Kind, loss: Hashable, build: Callable[[], LossFnFactory[ModelT]]
    ) -> _Compiled:
        fn = self._compiled.get((kind, loss))
        return self._compile(kind, loss, build()) if fn is None else fn

    def _run_steps(
        self, fn: _Compiled, batch: Any, step: int, count: int, *, stacked: bool
    ) -> tuple[Any, Any]:
        """Run a compiled step (or `count` fused steps) and write the new state back."""
        if self._parallel is not None:
            batch = self._parallel.place_batch(batch, stacked=stacked)
        leaves, loss, metrics = fn(self._backend.read(), batch, step)
        self._backend.write(leaves)
        self._step = step + count
        return loss, metrics

    def _run_evaluate(
        self, fn: _Compiled, batch: Any, step: int
    ) -> tuple[Float[Array, ""], Metrics]:
        if self._parallel is not None:
            batch = self._parallel.place_batch(batch, stacked=False)
        loss, metrics = fn(self._backend.read(), batch, step)
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
