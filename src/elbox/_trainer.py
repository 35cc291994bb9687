"""`VAETrainer`: the documented training API, for Flax NNX and Equinox models."""

import numbers
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy.typing as npt
import optax
from flax import nnx
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._backend import AbstractBackend, LossFn
from ._batch import batch_data
from ._config import VAETrainingConfig
from ._custom_types import Batch, KLScheduleLike, LossName, Metrics, StepLike
from ._elbo import ELBOObjective
from ._equinox_backend import EquinoxBackend
from ._kl import apply_free_bits, kl_loss
from ._nnx_backend import NNXBackend
from ._reconstruction import AbstractReconstructionLoss, reconstruction_loss
from ._schedules import _float_dtype, schedule_from_config
from ._train_state import TrainState

ModelT = TypeVar("ModelT")

LossType = LossName | AbstractReconstructionLoss

_StepFn = Callable[[list[Any], ArrayLike, int], tuple[list[Any], Any, Any]]
_EvalFn = Callable[[list[Any], ArrayLike, int], tuple[Float[Array, ""], Metrics]]


def _make_backend(model: Any, optimizer: Any) -> AbstractBackend[Any]:
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
        "VAETrainer takes a Flax nnx.Module (with an nnx.Optimizer) or an Equinox eqx.Module "
        f"(with an optax.GradientTransformation); got {type(model).__name__}"
    )


def _checked_step(step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be a Python or NumPy integer; got {type(step).__name__}")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}")
    return int(step)


def _checked_data(batch: Batch, *, leading_axes: int) -> Array | npt.NDArray[Any]:
    x = batch_data(batch)
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            "VAETrainer's steps run their own compiled function and cannot be called inside "
            "jax.jit or another JAX transformation; use create_loss_fn(step) there instead"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"batch data must be floating point; got dtype {x.dtype} (scale integer images "
            "to floats in [0, 1] first)"
        )
    if x.ndim < leading_axes + 1:
        what = "(batch, ...)" if leading_axes == 1 else "(steps, batch, ...)"
        raise ValueError(f"batch data must have shape {what}; got shape {x.shape}")
    return x


def _describe_leaves(leaves: list[Any]) -> str:
    shown = ", ".join(f"{jnp.result_type(leaf)}{list(jnp.shape(leaf))}" for leaf in leaves[:6])
    more = f", ... ({len(leaves)} arrays)" if len(leaves) > 6 else ""
    return f"[{shown}{more}]"


class VAETrainer(Generic[ModelT]):
    """Trains a VAE with KL annealing, beta-VAE weighting and free bits.

    Works with a Flax NNX model and its `nnx.Optimizer` (trained in place: after each step
    the `model` and `optimizer` you hold have the new state) and with an Equinox model and
    an optax optimizer (`trainer.model` is the current model). The model returns
    `(recon_x, mean, logvar)`, or a mapping with `reconstructed`/`reconstruction`, `mean`
    and `log_var`/`logvar` entries.

    Each step is compiled once per loss type and batch shape; the step number is traced, so
    annealing never recompiles.

    Args:
        model: an `nnx.Module` called as `model(x)`, or an `eqx.Module` called as
            `model(x, key=key)`.
        optimizer: an `nnx.Optimizer` for an NNX model, an `optax.GradientTransformation`
            for an Equinox model.
        config: the VAE training configuration; defaults to `VAETrainingConfig()`.
        key: the base PRNG key of the Equinox model's noise (each step folds its number in);
            defaults to `jax.random.key(0)`. NNX models draw noise from their own `nnx.Rngs`.
        kl_schedule: replaces the config's KL schedule with any callable from step to
            weight, such as an optax schedule.
        donate: donate the training state's buffers to each step, saving memory; arrays you
            took from the model before a step are then invalid after it.

    Example:
        >>> import jax.numpy as jnp
        >>> import optax
        >>> from flax import nnx
        >>> from elbox import VAETrainer, VAETrainingConfig
        >>> from elbox.models.nnx import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        >>> trainer = VAETrainer(model, optimizer, VAETrainingConfig(kl_warmup_steps=100))
        >>> loss, metrics = trainer.train_step(jnp.zeros((8, 64)))
        >>> sorted(metrics), trainer.step
        (['kl_loss', 'kl_weight', 'loss', 'recon_loss'], 1)
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: nnx.Optimizer[Any] | optax.GradientTransformation,
        config: VAETrainingConfig | None = None,
        *,
        key: PRNGKeyArray | None = None,
        kl_schedule: KLScheduleLike | None = None,
        donate: bool = False,
    ) -> None:
        if config is not None and not isinstance(config, VAETrainingConfig):
            raise TypeError(f"config must be a VAETrainingConfig; got {type(config).__name__}")
        self.config = VAETrainingConfig() if config is None else config
        self.kl_schedule: KLScheduleLike = (
            schedule_from_config(self.config) if kl_schedule is None else kl_schedule
        )
        self._backend: AbstractBackend[ModelT] = _make_backend(model, optimizer)
        self._key = jax.random.key(0) if key is None else key
        self._donate = donate
        self._step = 0
        self._step_fns: dict[LossType, _StepFn] = {}
        self._fused_fns: dict[LossType, _StepFn] = {}
        self._eval_fns: dict[LossType, _EvalFn] = {}

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
        """The base PRNG key of the Equinox model's noise."""
        return self._key

    @property
    def state(self) -> TrainState:
        """A snapshot of the training state (for checkpoints)."""
        params, opt_state = jax.tree.unflatten(self._backend.treedef, self._backend.read())
        step = jnp.asarray(self._step, dtype=jnp.int32)
        return TrainState(params=params, opt_state=opt_state, step=step, key=self._key)

    def load_state(self, state: TrainState) -> None:
        """Continue from `state`, e.g. one restored from a checkpoint.

        Raises:
            ValueError: if its structure differs from this trainer's model and optimizer.
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
        self._backend.write(leaves)
        self._step = int(state.step)
        self._key = state.key

    # -- the formulas of the documented API ----------------------------------------------

    def get_kl_weight(self, step: StepLike) -> Float[Array, ""]:
        """The KL weight at `step`, beta included; works with a traced step."""
        return jnp.asarray(self.kl_schedule(step), dtype=_float_dtype())

    def apply_free_bits(self, kl_per_dim: Float[Array, "*dims"]) -> Float[Array, "*dims"]:
        """`max(kl_per_dim, free_bits)`, or `kl_per_dim` unchanged when free bits are off."""
        return apply_free_bits(kl_per_dim, self.config.free_bits)

    def compute_kl_loss(
        self, mean: Float[Array, "batch latent"], logvar: Float[Array, "batch latent"]
    ) -> tuple[Float[Array, ""], Float[Array, " batch"]]:
        """`(kl_loss, kl_per_sample)` with this config's free bits (see `elbox.kl_loss`)."""
        return kl_loss(
            mean,
            logvar,
            free_bits=self.config.free_bits,
            free_bits_mode=self.config.free_bits_mode,
        )

    def compute_reconstruction_loss(
        self,
        x: Float[Array, "batch *features"],
        recon_x: Float[Array, "batch *features"],
        loss_type: LossType = "mse",
    ) -> Float[Array, ""]:
        """The reconstruction loss: summed over non-batch axes, averaged over the batch."""
        return reconstruction_loss(loss_type)(x, recon_x)

    def objective(self, loss_type: LossType = "mse") -> ELBOObjective:
        """The training objective with this trainer's schedule and free bits."""
        return ELBOObjective(
            schedule=self.kl_schedule,
            loss_type=reconstruction_loss(loss_type),
            free_bits=self.config.free_bits,
            free_bits_mode=self.config.free_bits_mode,
        )

    def create_loss_fn(self, step: StepLike, loss_type: LossType = "mse") -> LossFn[ModelT]:
        """`loss_fn(model, batch) -> (loss, metrics)` at `step`, for use under a gradient.

        Works with `nnx.grad` / `nnx.value_and_grad` for NNX models and with
        `eqx.filter_grad` / `eqx.filter_value_and_grad` for Equinox models, and with a
        traced `step` inside `jax.jit`.
        """
        return self._backend.loss_fn(self.objective(loss_type), step, self._key)

    # -- compiled steps --------------------------------------------------------------

    def _resolve_step(self, step: StepLike | None) -> int:
        return self._step if step is None else _checked_step(step)

    def _compiled_step(self, loss_type: LossType) -> _StepFn:
        fn = self._step_fns.get(loss_type)
        if fn is None:
            fn = self._step_fns[loss_type] = self._compile_step(loss_type, fused=False)
        return fn

    def _compile_step(self, loss_type: LossType, *, fused: bool) -> _StepFn:
        backend, objective, key = self._backend, self.objective(loss_type), self._key
        treedef = backend.treedef

        def one_step(leaves: list[Any], x: Array, step: Any) -> tuple[list[Any], Any, Any]:
            params, opt_state = jax.tree.unflatten(treedef, leaves)
            params, opt_state, loss, metrics = backend.update(
                params, opt_state, x, step, key, objective
            )
            return jax.tree.leaves((params, opt_state)), loss, metrics

        def many_steps(leaves: list[Any], xs: Array, step: Any) -> tuple[list[Any], Any, Any]:
            def body(carry: tuple[list[Any], Any], x: Array) -> tuple[Any, Any]:
                leaves, step = carry
                leaves, loss, metrics = one_step(leaves, x, step)
                return (leaves, step + 1), (loss, metrics)

            (leaves, _), (losses, metrics) = jax.lax.scan(body, (leaves, step), xs)
            return leaves, losses, metrics

        return jax.jit(
            many_steps if fused else one_step, donate_argnums=(0,) if self._donate else ()
        )

    def train_step(
        self, batch: Batch, *, step: StepLike | None = None, loss_type: LossType = "mse"
    ) -> tuple[Float[Array, ""], Metrics]:
        """One optimisation step on `batch`: `(loss, metrics)`.

        Args:
            batch: an array of shape `(batch, ...)` or a mapping with an `image` or
                `data` entry.
            step: the step number for KL annealing. Without it the trainer's own counter is
                used; either way the counter becomes `step + 1`.
            loss_type: `"mse"`, `"bce"` (probabilities), `"bce_logits"` (logits), or an
                `AbstractReconstructionLoss`.

        Returns:
            The loss and the metrics `loss`, `recon_loss`, `kl_loss` and `kl_weight`, as
            JAX scalars: reading them waits for the step, calling does not.
        """
        x = _checked_data(batch, leading_axes=1)
        current = self._resolve_step(step)
        fn = self._step_fns.get(loss_type) or self._compiled_step(loss_type)
        leaves, loss, metrics = fn(self._backend.read(), x, current)
        self._backend.write(leaves)
        self._step = current + 1
        return loss, metrics

    def train_steps(
        self, batches: Batch, *, step: StepLike | None = None, loss_type: LossType = "mse"
    ) -> tuple[Float[Array, " steps"], dict[str, Float[Array, " steps"]]]:
        """K optimisation steps in one dispatch, on batches stacked along a leading axis.

        Equal to K calls of `train_step` with steps `step, ..., step + K - 1`, but run as
        one compiled `lax.scan`, so Python's per-step overhead is paid once.

        Returns:
            The K losses and the metrics, each of shape `(K,)`.
        """
        xs = _checked_data(batches, leading_axes=2)
        current = self._resolve_step(step)
        fn = self._fused_fns.get(loss_type)
        if fn is None:
            fn = self._fused_fns[loss_type] = self._compile_step(loss_type, fused=True)
        leaves, losses, metrics = fn(self._backend.read(), xs, current)
        self._backend.write(leaves)
        self._step = current + int(xs.shape[0])
        return losses, metrics

    def compute_loss(
        self, batch: Batch, *, step: StepLike | None = None, loss_type: LossType = "mse"
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` on `batch` at `step` (default: the counter), updating nothing."""
        x = _checked_data(batch, leading_axes=1)
        current = self._resolve_step(step)
        fn = self._eval_fns.get(loss_type)
        if fn is None:
            backend, objective, key = self._backend, self.objective(loss_type), self._key
            treedef = backend.treedef

            def evaluate(leaves: list[Any], x: Array, step: Any) -> tuple[Any, Metrics]:
                params, opt_state = jax.tree.unflatten(treedef, leaves)
                return backend.evaluate(params, opt_state, x, step, key, objective)

            fn = self._eval_fns[loss_type] = jax.jit(evaluate)
        return fn(self._backend.read(), x, current)
