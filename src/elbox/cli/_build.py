"""The model, optimizer and `VAETrainer` of a run, and its VAE config and objective options."""

import math
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import optax
from jaxtyping import PRNGKeyArray

from .._config import VAETrainingConfig
from .._custom_types import Model, ObjectiveOptions, OptimizerLike
from ..frameworks._with_state import WithState
from ..trainers._vae_trainer import VAETrainer
from ._likelihood import run_likelihood
from ._options import TrainOptions, decoder_output


def build_vae(
    options: TrainOptions,
    image_shape: tuple[int, int, int],
    config: VAETrainingConfig,
    objective_options: ObjectiveOptions,
) -> tuple[VAETrainer[Any], OptimizerLike]:
    """The model, its optimizer and the VAETrainer that the options describe, with the VAE
    config and objective options of the run (see `run_settings`)."""
    model, optimizer, key = _reference_model(options, image_shape)
    vae = VAETrainer(
        model,
        optimizer,
        config,
        key=key,
        objective=options.objective,
        objective_options=objective_options,
        ema_decay=options.ema_decay,
        accumulate=options.accumulate,
        precision=options.precision,
    )
    return vae, optimizer


def _reference_model(
    options: TrainOptions, image_shape: tuple[int, int, int]
) -> tuple[Model, OptimizerLike, PRNGKeyArray]:
    """The reference model of `--framework` and `--model`, its optimizer and the trainer's
    base key. Flax is imported only for `--framework nnx`."""
    tx = optax.adam(options.learning_rate)
    key = jax.random.key(options.seed)
    features = math.prod(image_shape)
    hidden, latent, output = options.hidden, options.latent, decoder_output(options)
    # The decoder returns what the likelihood reads; a learned global or per-feature
    # scale is a parameter of the model.
    outputs = run_likelihood(options).decoder_outputs
    if options.framework == "nnx":
        from flax import nnx

        from ..models import nnx as nnx_models

        rngs = nnx.Rngs(options.seed)
        nnx_model: nnx.Module
        if options.model == "mlp":
            nnx_model = nnx_models.MLPVAE(
                features,
                hidden=hidden,
                latent=latent,
                output=output,
                decoder_outputs=outputs,
                rngs=rngs,
            )
        else:
            nnx_model = nnx_models.ConvVAE(
                image_shape,
                hidden=hidden,
                latent=latent,
                output=output,
                decoder_outputs=outputs,
                rngs=rngs,
            )
        return nnx_model, nnx.Optimizer(nnx_model, tx, wrt=nnx.Param), key
    from ..models import equinox as eqx_models

    init_key, key = jax.random.split(key)
    model: eqx.Module
    if options.batch_norm:  # a stateful model: trained with its eqx.nn.State
        bn_model, state = eqx.nn.make_with_state(eqx_models.BatchNormMLPVAE)(
            features, hidden=hidden, latent=latent, output=output, key=init_key
        )
        model = WithState(bn_model, state)
    elif options.model == "mlp":
        model = eqx_models.MLPVAE(
            features,
            hidden=hidden,
            latent=latent,
            output=output,
            decoder_outputs=outputs,
            key=init_key,
        )
    else:
        model = eqx_models.ConvVAE(
            image_shape,
            hidden=hidden,
            latent=latent,
            output=output,
            decoder_outputs=outputs,
            key=init_key,
        )
    return model, tx, key


def run_settings(
    options: TrainOptions, total_steps: int
) -> tuple[VAETrainingConfig, ObjectiveOptions]:
    """The VAE config and objective options of a new run of `total_steps` steps: the
    annealing periods and the capacity ramp scaled to its length, unless given."""
    return training_config(options, total_steps), objective_options_of(options, total_steps)


def saved_settings(
    saved: Mapping[str, Any], options: TrainOptions
) -> tuple[VAETrainingConfig, ObjectiveOptions]:
    """The VAE config and objective options a run folder's `config.json` recorded (a run
    written before objectives were recorded has the defaults of its length)."""
    config = VAETrainingConfig.from_dict(saved["vae_config"])
    recorded = saved.get("objective")
    if recorded is None:
        return config, objective_options_of(options, int(saved["total_steps"]))
    objective: ObjectiveOptions = {k: v for k, v in recorded.items() if k != "name"}  # type: ignore[assignment]  # JSON of an ObjectiveOptions
    return config, objective


def objective_options_of(options: TrainOptions, total_steps: int) -> ObjectiveOptions:
    """The objective's options, the capacity's ramp scaled to the run's length by default."""
    if options.objective == "iwae":
        return {"num_samples": options.num_samples, "gradient": options.gradient}
    if options.objective != "capacity":
        return {}
    ramp = max(1, total_steps // 2) if options.capacity_steps is None else options.capacity_steps
    return {"c_max": options.c_max, "capacity_steps": ramp, "gamma": options.gamma}


def training_config(options: TrainOptions, total_steps: int) -> VAETrainingConfig:
    """The VAE config, with the annealing periods scaled to the run's length by default."""
    quarter = max(1, total_steps // 4)
    return VAETrainingConfig(
        kl_annealing=options.kl_annealing,
        kl_warmup_steps=quarter if options.kl_warmup_steps is None else options.kl_warmup_steps,
        beta=options.beta,
        # Free bits belong to the ELBO; the other objectives control the KL their own way.
        free_bits=options.free_bits if options.objective == "elbo" else 0.0,
        cyclical_period=quarter if options.cyclical_period is None else options.cyclical_period,
        free_bits_mode=options.free_bits_mode,
    )
