"""The training state: everything one training step reads and writes."""

from typing import Any

import equinox as eqx
from jaxtyping import Array, Int, PRNGKeyArray


class TrainState(eqx.Module):
    """A snapshot of training: model state, optimizer state, step counter and PRNG key.

    For an Equinox model `params` holds the model's floating-point arrays and `opt_state`
    the optax state; for a Flax NNX model they are the `nnx.State` of the model and of the
    `nnx.Optimizer`. `step` is the step the next `train_step` will run (the trainer's
    counter) and `key` the base key from which each step's noise key is folded.

    `VAETrainer.state` returns one and `VAETrainer.load_state` takes one back, which is how
    checkpoints save and restore training.
    """

    params: Any
    opt_state: Any
    step: Int[Array, ""]
    key: PRNGKeyArray
