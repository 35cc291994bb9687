"""The training state: everything one training step reads and writes."""

from typing import Any

import equinox as eqx
from jaxtyping import Array, Int, PRNGKeyArray


class TrainState(eqx.Module):
    """A snapshot of training: model state, optimizer state, step counter and PRNG key.

    `VAETrainer.state` returns one and `VAETrainer.load_state` takes one back, which is how
    checkpoints save and restore training.
    """

    params: Any
    """The model's trainable state: for an Equinox model its floating-point arrays, for a
    Flax NNX model the model's `nnx.State`."""

    opt_state: Any
    """The optimizer's state: the optax state for an Equinox model, the `nnx.State` of the
    `nnx.Optimizer` for a Flax NNX model."""

    step: Int[Array, ""]
    """The step the next `train_step` will run (the trainer's step counter)."""

    key: PRNGKeyArray
    """The base PRNG key; step `s` draws its noise from `jax.random.fold_in(key, s)`."""
