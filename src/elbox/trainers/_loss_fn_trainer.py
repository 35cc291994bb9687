"""`LossFnTrainer`: any `make_loss_fn(step)` trained with elbox's compiled steps."""

from typing import final

import jax
from jax.sharding import Mesh
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import (
    Batch,
    LossFnFactory,
    Metrics,
    ModelT,
    NonFinite,
    OptimizerLike,
    StepLike,
    Weights,
)
from ..core._precision import PrecisionName, PrecisionPolicy
from ..core._step_options import StepOptions, step_arguments
from ..core._train_step import TrainStep
from ._abstract_trainer import AbstractTrainer
from ._engine import Engine, refuse_tracers
from ._loop_steps import LoopSteps, evaluation_weights


def _leading_size(batch: Batch, what: str) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves or not all(hasattr(leaf, "shape") and leaf.ndim >= 1 for leaf in leaves):
        raise TypeError(f"{what} must be an array or a pytree of arrays with a leading axis")
    return int(leaves[0].shape[0])


def checked_pytree(batch: Batch, leading_axes: int) -> Batch:
    """A batch (`leading_axes=1`) or stacked batches (2) of any pytree of arrays, checked
    to have a leading axis and not to be traced; returned as it is."""
    refuse_tracers(batch)
    _leading_size(batch, "a batch" if leading_axes == 1 else "stacked batches")
    return batch


@final
class LossFnTrainer(AbstractTrainer[ModelT]):
    """Trains a model on the loss that `make_loss_fn(step)` returns.

    A thin stateful shell over `TrainStep(make_loss_fn, ...)`, like `VAETrainer`: its
    `engine` holds the state and runs the step.
    `make_loss_fn(step)` returns `loss_fn(model, batch) -> (loss, metrics)`, for example
    `lambda step: vae_trainer.create_loss_fn(step=step)`. It is called with a traced step
    inside the compiled step, so the step is compiled once however many steps run.
    Batches may be any pytree of arrays (a mapping with labels, say); they go to `loss_fn`
    as they are.

    Args:
        model: an `nnx.Module` or an `eqx.Module`.
        optimizer: its `nnx.Optimizer`, or an optax optimizer for an Equinox model.
        make_loss_fn: `step -> loss_fn`.
        key: the base PRNG key (see `AbstractTrainer.key`).
        donate: donate the training state's buffers to each step.
        nonfinite: `"skip"`, `"raise"` or `"apply"`: what a step whose loss or gradients
            are not finite does (see `VAETrainer`).
        ema_decay: keep an exponential moving average of the parameters (see
            `TrainStep`); None keeps none.
        ema_warmup: the average's warm-up (see `TrainStep`).
        accumulate: micro-batches per optimizer update (every leaf of a batch is split
            along its leading axis; see `TrainStep`).
        precision: `"float32"`, `"bfloat16"`, `"float16"` or a `PrecisionPolicy`. A loss
            function that runs the model itself should do so through `call_vae` (or cast
            the data to the parameters' dtype) to compute in that precision.
        mesh: train data-parallel over this mesh (see `AbstractTrainer.distribute`).
        data_axis: the mesh axis that splits batches (for a mesh of several axes).
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: OptimizerLike,
        make_loss_fn: LossFnFactory,
        *,
        key: PRNGKeyArray | None = None,
        donate: bool = False,
        nonfinite: NonFinite = "skip",
        ema_decay: float | None = None,
        ema_warmup: bool = True,
        accumulate: int = 1,
        precision: PrecisionName | PrecisionPolicy = "float32",
        mesh: Mesh | None = None,
        data_axis: str | None = None,
    ) -> None:
        if not callable(make_loss_fn):
            raise TypeError(
                "make_loss_fn must be a callable step -> loss_fn(model, batch); "
                f"got {type(make_loss_fn).__name__}"
            )
        self.make_loss_fn = make_loss_fn
        options = StepOptions.checked(
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
            accumulate=accumulate,
            precision=precision,
            nonfinite=nonfinite,
        )
        self.engine = Engine(
            model,
            optimizer,
            key=key,
            donate=donate,
            nonfinite=nonfinite,
            mesh=mesh,
            data_axis=data_axis,
            options=options,
        )
        self._core = TrainStep(
            make_loss_fn, self.engine.optimizer, nonfinite=nonfinite, **step_arguments(options)
        )

    def as_train_step(self) -> TrainStep:
        """The functional core's step that this trainer runs, for its `state`: the way to
        run the same training under your own `jax.jit`, `lax.scan` or `jax.vmap`."""
        return self._core

    def train_step(
        self, batch: Batch, *, step: StepLike | None = None
    ) -> tuple[Float[Array, ""], Metrics]:
        """One optimisation step of `make_loss_fn(step)` on `batch`.

        Args:
            batch: an array or a pytree of arrays with the batch on the leading axis,
                passed to `loss_fn` as it is.
            step: the step number given to `make_loss_fn`; without it the trainer's
                counter. Either way the counter becomes `step + 1`.

        Returns:
            The loss and the metrics `loss_fn` returned, as JAX scalars.
        """
        checked_pytree(batch, 1)
        metrics = self.engine.train(self._core, batch, step=self.engine.resolve_step(step))
        return metrics["loss"], metrics

    def train_steps(
        self, batches: Batch, *, step: StepLike | None = None
    ) -> tuple[Float[Array, " steps"], dict[str, Float[Array, " steps"]]]:
        """K steps in one dispatch, equal to K calls of `train_step`.

        Args:
            batches: K batches stacked: every leaf has a leading axis of size K.
            step: the step number of the first of them (default: the counter).

        Returns:
            The K losses and the metrics, each of shape `(K,)`.
        """
        checked_pytree(batches, 2)
        metrics = self.engine.train_fused(
            self._core,
            batches,
            _leading_size(batches, "stacked batches"),
            step=self.engine.resolve_step(step),
        )
        return metrics["loss"], metrics

    def evaluate(
        self, batch: Batch, *, step: StepLike | None = None, weights: Weights = "trained"
    ) -> Metrics:
        """The metrics of `make_loss_fn(step)` on `batch`, updating nothing (an Equinox
        model in inference mode).

        Args:
            batch: as for `train_step`.
            step: the step number given to `make_loss_fn` (default: the counter).
            weights: `"trained"` or `"ema"` (the average; needs `ema_decay`).

        Returns:
            The metrics `loss_fn` returned, as JAX scalars.
        """
        checked_pytree(batch, 1)
        step_number = self.engine.resolve_step(step)
        _, metrics = self.engine.evaluate(self._core, batch, step=step_number, weights=weights)
        return metrics

    def loop_steps(self, *, loss_type: object = None, donate: bool = True) -> LoopSteps:
        """The engine and steps `Trainer.fit` runs, with `donate` bound.

        Raises:
            TypeError: for a `loss_type`: the loss is fixed by `make_loss_fn`.
        """
        if loss_type is not None:
            raise TypeError("loss_type applies to a VAETrainer; its loss is fixed by make_loss_fn")
        return LoopSteps(
            engine=self.engine,
            train_step=self._core,
            evaluation_step=self._core,
            prepare=checked_pytree,
            donate=donate,
            weights=evaluation_weights(self.engine.options),
        )
