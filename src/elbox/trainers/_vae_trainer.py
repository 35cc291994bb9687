"""`VAETrainer`: the documented training API, for Flax NNX and Equinox models."""

from typing import Any, final

import jax.numpy as jnp
import numpy.typing as npt
from jax.sharding import Mesh
from jaxtyping import Array, Float, PRNGKeyArray

from .._batch import batch_data
from .._config import VAETrainingConfig
from .._custom_types import (
    Batch,
    KLScheduleLike,
    LikelihoodName,
    LossFn,
    Metrics,
    ModelT,
    NonFinite,
    ObjectiveName,
    ObjectiveOptions,
    OptimizerLike,
    StepLike,
    Weights,
)
from .._dtypes import float_dtype
from ..core._precision import PrecisionName, PrecisionPolicy
from ..core._step_options import StepOptions, step_arguments
from ..core._train_step import TrainStep
from ..likelihoods._by_name import reconstruction_loss
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ..objectives._from_name import checked_objective_options, objective_from_name
from ..objectives._kl import apply_free_bits, kl_loss
from ..objectives._likelihood_terms import for_evaluation, loss_name
from ..objectives._objective import AbstractObjective, step_key
from ..objectives._schedules import schedule_from_config
from ._abstract_trainer import AbstractTrainer
from ._engine import Engine, refuse_tracers
from ._loop_steps import LoopSteps, evaluation_weights, step_options_record

LossType = LikelihoodName | AbstractReconstructionLoss
"""A reconstruction loss or likelihood: the name of a built-in one (the spec's `"mse"`,
`"bce"`, `"bce_logits"`, `"mae"`, or a likelihood of `likelihood_from_name`) or an
instance of an `AbstractReconstructionLoss` subclass (every `AbstractLikelihood` is
one)."""

# Step metrics that describe the step rather than the data: not validation metrics.
_SCHEDULE_METRICS = frozenset({"kl_weight", "capacity"})


def checked_data(batch: Batch, leading_axes: int) -> Array | npt.NDArray[Any]:
    """The data array of a batch (`leading_axes=1`) or of stacked batches (2), checked:
    floating point, with the leading axes, and not traced."""
    x = batch_data(batch)
    refuse_tracers(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"batch data must be floating point; got dtype {x.dtype} (scale integer images "
            "to floats in [0, 1] first)"
        )
    if x.ndim < leading_axes + 1:
        what = "(batch, ...)" if leading_axes == 1 else "(steps, batch, ...)"
        raise ValueError(f"batch data must have shape {what}; got shape {x.shape}")
    return x


@final
class VAETrainer(AbstractTrainer[ModelT]):
    """Trains a VAE with KL annealing, beta-VAE weighting and free bits.

    Works with a Flax NNX model and its `nnx.Optimizer` (trained in place: after each step
    the `model` and `optimizer` you hold have the new state) and with an Equinox model and
    an optax optimizer (`trainer.model` is the current model). The model returns
    `(recon_x, mean, logvar)`, or a mapping with `reconstructed`/`reconstruction`, `mean`
    and `log_var`/`logvar` entries.

    Each step is compiled once per loss type and batch shape; the step number is traced, so
    annealing never recompiles. The trainer is a thin stateful shell over the functional
    core: its `engine` holds a `TrainState` and runs `TrainStep(self.objective(loss_type),
    ...)` on it (see `elbox.TrainStep` to use the core directly, under your own `jax.jit`,
    `lax.scan` or `jax.vmap`).

    A step whose loss or gradients are not finite (a batch with a NaN, an overflow) is
    skipped by default: the parameters and optimizer state stay as they were, the step
    counter advances and the metric `skipped` is 1 (see `nonfinite`).

    The objective is the annealed ELBO unless `objective` names another way to control
    the KL term: `"capacity"` (`CapacityObjective`: `recon + gamma * |KL - C(step)|`; the
    config's KL schedule is not used) or `"beta-tc"` (`BetaTCObjective`: the config's
    schedule, beta included, weights the total correlation instead of the whole KL), or
    trains another bound: `"iwae"` (`IWAEObjective`: the K-sample importance-weighted
    bound, with no KL schedule). None of them takes free bits. `evaluate` reports the
    same unannealed `neg_elbo` whatever the objective.

    Args:
        model: an `nnx.Module` called as `model(x)`, or an `eqx.Module` called as
            `model(x, key=key)`; a stateful Equinox model (BatchNorm) as
            `WithState(model, state)`.
        optimizer: an `nnx.Optimizer` for an NNX model, an `optax.GradientTransformation`
            for an Equinox model.
        config: the VAE training configuration; defaults to `VAETrainingConfig()`.
        key: the base PRNG key of the Equinox model's noise (each step folds its number in);
            defaults to `jax.random.key(0)`. NNX models draw noise from their own `nnx.Rngs`.
        kl_schedule: replaces the config's KL schedule with any callable from step to
            weight, such as an optax schedule.
        objective: the training objective by name: `"elbo"` (the default), `"capacity"`,
            `"beta-tc"` or `"iwae"` (see `objective_from_name`).
        objective_options: the named objective's options, e.g. `{"c_max": 25.0,
            "capacity_steps": 100_000, "gamma": 1000.0}` for `"capacity"`, or
            `{"num_samples": 50, "gradient": "dreg"}` for `"iwae"` (see
            `ObjectiveOptions`); those left out take the objective's defaults.
        donate: donate the training state's buffers to each step, so that it updates them in
            place: memory for one copy of the state instead of two, and a few percent faster.
            Arrays you took from the model (or `trainer.state`) before a step are then
            deleted by it; turn it on when you don't keep such arrays across steps.
            `Trainer.fit` donates during its steps whatever this says.
        nonfinite: what a step whose loss or a gradient is not finite does: `"skip"` (the
            default: the state stays as it was, the metric `skipped` is 1), `"raise"` (the
            same, then `NonFiniteStepError` naming the step and whether the loss or a
            gradient was not finite; this reads each step's metrics, waiting for it) or
            `"apply"` (apply the update anyway, with no `skipped` metric).
        ema_decay: keep an exponential moving average of the parameters with this decay
            (`ema_model`, `evaluate(..., weights="ema")`, saved in checkpoints); None
            keeps none. See `TrainStep`.
        ema_warmup: the average's warm-up, `min(ema_decay, (1 + t) / (10 + t))` at step
            `t` (see `TrainStep`).
        accumulate: micro-batches per optimizer update: each batch is split into this
            many, whose gradients are averaged into one update (see `TrainStep`). The
            step counter and the KL schedule count updates.
        precision: `"float32"`, `"bfloat16"` or `"float16"` (dynamic loss scaling), or a
            `PrecisionPolicy`: what the model computes in (see `PrecisionPolicy`).
        mesh: train data-parallel over this mesh (see `distribute` and
            `elbox.data_parallel_mesh`); None trains on one device.
        data_axis: the mesh axis that splits batches (needed only for a mesh of several axes).

    Example:
        >>> import jax.numpy as jnp
        >>> import optax
        >>> from flax import nnx
        >>> from elbox import VAETrainer, VAETrainingConfig
        >>> from elbox.models.nnx import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        >>> config = VAETrainingConfig(kl_warmup_steps=100)
        >>> trainer = VAETrainer(model, optimizer, config)
        >>> loss, metrics = trainer.train_step(jnp.zeros((8, 64)))
        >>> sorted(metrics), trainer.step
        (['kl_loss', 'kl_weight', 'loss', 'recon_loss', 'skipped'], 1)
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: OptimizerLike,
        config: VAETrainingConfig | None = None,
        *,
        key: PRNGKeyArray | None = None,
        kl_schedule: KLScheduleLike | None = None,
        objective: ObjectiveName = "elbo",
        objective_options: ObjectiveOptions | None = None,
        donate: bool = False,
        nonfinite: NonFinite = "skip",
        ema_decay: float | None = None,
        ema_warmup: bool = True,
        accumulate: int = 1,
        precision: PrecisionName | PrecisionPolicy = "float32",
        mesh: Mesh | None = None,
        data_axis: str | None = None,
    ) -> None:
        if config is not None and not isinstance(config, VAETrainingConfig):
            raise TypeError(f"config must be a VAETrainingConfig; got {type(config).__name__}")
        self.config = VAETrainingConfig() if config is None else config
        self.kl_schedule: KLScheduleLike = (
            schedule_from_config(self.config) if kl_schedule is None else kl_schedule
        )
        self.objective_name: ObjectiveName = objective
        self.objective_options: ObjectiveOptions = checked_objective_options(
            objective, objective_options
        )
        self.objective()  # the options' values are valid
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
        # The TrainSteps the engine runs, one per loss type and use (training or
        # evaluation): the same object each time, so the engine compiles each once.
        self._train_steps: dict[tuple[LossType, bool], TrainStep] = {}

    # -- the formulas of the documented API ----------------------------------------------

    def get_kl_weight(self, step: StepLike) -> Float[Array, ""]:
        """The KL weight at `step`, beta included; works with a traced step."""
        return jnp.asarray(self.kl_schedule(step), dtype=float_dtype())

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

    def objective(
        self, loss_type: LossType = "mse", *, report_neg_elbo: bool = False
    ) -> AbstractObjective:
        """The training objective: the one named by `objective` (an `ELBOObjective` by
        default), with this trainer's schedule, free bits and objective options.

        Args:
            loss_type: the reconstruction loss, as for `train_step`.
            report_neg_elbo: add the metric `neg_elbo` (the objective `evaluate` runs).
        """
        return objective_from_name(
            self.objective_name,
            schedule=self.kl_schedule,
            loss_type=reconstruction_loss(loss_type),
            free_bits=self.config.free_bits,
            free_bits_mode=self.config.free_bits_mode,
            report_neg_elbo=report_neg_elbo,
            **self.objective_options,
        )

    def create_loss_fn(self, step: StepLike, loss_type: LossType = "mse") -> LossFn:
        """`loss_fn(model, batch) -> (loss, metrics)` at `step`, for use under a gradient.

        Works with `nnx.grad` / `nnx.value_and_grad` for NNX models and with
        `eqx.filter_grad` / `eqx.filter_value_and_grad` for Equinox models, and with a
        traced `step` inside `jax.jit`.

        Args:
            step: the step whose KL weight (and, for Equinox, noise key) the loss uses;
                a Python int or a traced integer array.
            loss_type: the reconstruction loss, as for `train_step`.

        Returns:
            `loss_fn(model, batch)`, returning the loss and the metrics `loss`,
            `recon_loss`, `kl_loss` and `kl_weight`, and the objective's own.
        """
        return self.objective(loss_type).loss_fn(step, step_key(self.key, step))

    def as_train_step(self, loss_type: LossType = "mse", *, evaluation: bool = False) -> TrainStep:
        """The functional core's step that this trainer runs, for its `state`.

        `state, metrics = trainer.as_train_step("bce_logits")(trainer.state, batch)` computes
        what `train_step` would, as a pure function that changes nothing in the trainer:
        the way to run the same training under your own `jax.jit`, `lax.scan` or
        `jax.vmap` (several seeds at once, say, over states stacked from several trainers).

        Args:
            loss_type: the reconstruction loss, as for `train_step`.
            evaluation: give the objective of `evaluate`, which also reports `neg_elbo`
                and sees a likelihood's evaluation data (`for_evaluation`: a dynamic
                binarisation made fixed).

        Returns:
            A `TrainStep` with this trainer's objective, optimizer, `nonfinite` and step
            options (average, accumulation, precision).
        """
        # Evaluation sees fixed data: a dynamic binarisation becomes the fixed one.
        loss = for_evaluation(loss_type) if evaluation else loss_type
        objective = self.objective(loss, report_neg_elbo=evaluation)
        return TrainStep(
            objective,
            self.engine.optimizer,
            nonfinite=self.nonfinite,
            **step_arguments(self.engine.options),
        )

    def _train_step_for(self, loss_type: LossType, evaluation: bool = False) -> TrainStep:
        step = self._train_steps.get((loss_type, evaluation))
        if step is None:
            step = self.as_train_step(loss_type, evaluation=evaluation)
            self._train_steps[(loss_type, evaluation)] = step
        return step

    # -- compiled steps --------------------------------------------------------------

    def train_step(
        self, batch: Batch, *, step: StepLike | None = None, loss_type: LossType = "mse"
    ) -> tuple[Float[Array, ""], Metrics]:
        """One optimisation step on `batch`: `(loss, metrics)`.

        Args:
            batch: an array of shape `(batch, ...)` or a mapping with an `image` or
                `data` entry.
            step: the step number for KL annealing. Without it the trainer's own counter is
                used; either way the counter becomes `step + 1`.
            loss_type: `"mse"`, `"bce"` (probabilities), `"bce_logits"` (logits), or
                `"mae"`; the name of a likelihood (`likelihood_from_name`); or an
                `AbstractReconstructionLoss`, such as any `AbstractLikelihood`.

        Returns:
            The loss and the metrics `loss`, `recon_loss`, `kl_loss` and `kl_weight` (and
            the objective's own: `capacity` for `"capacity"`; `mutual_info`,
            `total_correlation` and `dimension_kl` for `"beta-tc"`; `iwae_bound` and
            `ess` for `"iwae"`), as JAX scalars:
            reading them waits for the step, calling does not.
        """
        x = checked_data(batch, 1)
        step_number = self.engine.resolve_step(step)
        metrics = self.engine.train(self._train_step_for(loss_type), x, step=step_number)
        return metrics["loss"], metrics

    def train_steps(
        self, batches: Batch, *, step: StepLike | None = None, loss_type: LossType = "mse"
    ) -> tuple[Float[Array, " steps"], dict[str, Float[Array, " steps"]]]:
        """K optimisation steps in one dispatch, on batches stacked along a leading axis.

        Equal to K calls of `train_step` with steps `step, ..., step + K - 1`, but run as
        one compiled `lax.scan`, so Python's per-step overhead is paid once.

        Args:
            batches: K batches stacked on a leading axis, shape `(K, batch, ...)`, or a
                mapping holding them under `image` or `data`.
            step: the step number of the first batch (default: the counter); the counter
                becomes `step + K`.
            loss_type: the reconstruction loss, as for `train_step`.

        Returns:
            The K losses and the metrics, each of shape `(K,)`.
        """
        xs = checked_data(batches, 2)
        metrics = self.engine.train_fused(
            self._train_step_for(loss_type),
            xs,
            int(xs.shape[0]),
            step=self.engine.resolve_step(step),
        )
        return metrics["loss"], metrics

    def compute_loss(
        self, batch: Batch, *, step: StepLike | None = None, loss_type: LossType = "mse"
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` on `batch` at `step`, updating nothing.

        Args:
            batch: as for `train_step`.
            step: the step whose KL weight applies (default: the counter).
            loss_type: the reconstruction loss, as for `train_step`.

        Returns:
            The loss and the metrics `loss`, `recon_loss`, `kl_loss` and `kl_weight`.
        """
        x = checked_data(batch, 1)
        step_number = self.engine.resolve_step(step)
        return self.engine.evaluate(self._train_step_for(loss_type), x, step=step_number)

    def evaluate(
        self,
        batch: Batch,
        *,
        step: StepLike | None = None,
        loss_type: LossType = "mse",
        weights: Weights = "trained",
    ) -> Metrics:
        """Validation metrics on `batch`: `compute_loss`'s plus `neg_elbo`.

        `neg_elbo` is the unannealed negative ELBO, `-log p(x|z) + KL` with KL weight 1 and
        no free bits, the likelihood's normalising constant included (the losses of `mse`
        and `mae` leave it out of `recon_loss`): the number comparable across runs,
        schedules, betas and likelihoods. A binarising `BernoulliLikelihood` evaluates on
        its fixed binarisation of `batch`. An Equinox model runs in inference mode
        (BatchNorm on its running statistics).

        Args:
            batch: as for `train_step`.
            step: the step whose KL weight applies to `loss` (default: the counter).
            loss_type: the reconstruction loss, as for `train_step`.
            weights: `"trained"` (the parameters the optimizer updates) or `"ema"` (their
                average; needs `ema_decay`).

        Returns:
            The metrics `loss`, `recon_loss`, `kl_loss`, `kl_weight` and `neg_elbo`, and
            the objective's own (as for `train_step`).
        """
        x = checked_data(batch, 1)
        step_number = self.engine.resolve_step(step)
        evaluation = self._train_step_for(loss_type, evaluation=True)
        _, metrics = self.engine.evaluate(evaluation, x, step=step_number, weights=weights)
        return metrics

    def loop_steps(self, *, loss_type: LossType | None = None, donate: bool = True) -> LoopSteps:
        """The engine and steps `Trainer.fit` runs: those of `train_step` and, for
        validation, of `evaluate` without `kl_weight` (and `capacity`), with `loss_type`
        (default `"mse"`) and `donate`."""
        chosen: LossType = "mse" if loss_type is None else loss_type
        config = self.config.to_dict()
        if self.objective_name != "elbo":  # stored with checkpoints, compared on resume
            config["objective"] = self.objective_name
            config["objective_options"] = dict(self.objective_options)
        config.update(step_options_record(self.engine.options))
        return LoopSteps(
            engine=self.engine,
            train_step=self._train_step_for(chosen),
            evaluation_step=self._train_step_for(chosen, evaluation=True),
            prepare=checked_data,
            donate=donate,
            hidden_metrics=_SCHEDULE_METRICS,
            loss_type=loss_name(chosen),
            config=config,
            weights=evaluation_weights(self.engine.options),
        )
