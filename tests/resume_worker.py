"""A training run in its own process, for the SIGKILL resume tests.

    python -m tests.resume_worker VARIANT CHECKPOINT_DIR EPOCHS KILL_AT_STEP

Trains the test VAE with a ModelCheckpoint in CHECKPOINT_DIR and kills itself with SIGKILL
once step KILL_AT_STEP's metrics arrive (mid-epoch, possibly mid-save). VARIANT is a
framework, or `equinox-bn`: the stateful BatchNorm VAE with an average of its weights.
"""

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import equinox as eqx
import jax
import numpy as np
import optax

from elbox import VAETrainer, VAETrainingConfig, WithState
from elbox.data import batches
from elbox.models.equinox import BatchNormMLPVAE
from elbox.training import Callback, CheckpointConfig, ModelCheckpoint, Trainer

from .helpers import FEATURES, HIDDEN, LATENT, make_model_and_optimizer, patterns

Variant = Literal["nnx", "equinox", "equinox-bn"]
VARIANTS: tuple[Variant, ...] = ("nnx", "equinox", "equinox-bn")

CONFIG = VAETrainingConfig(kl_annealing="cyclical", cyclical_period=10, beta=2.0, free_bits=0.1)


class KillAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Any, step: int, metrics: Mapping[str, float]) -> None:
        if step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def data() -> Any:
    return batches(np.asarray(patterns(96), np.float32), 16, seed=3)  # 6 shuffled batches


def build(variant: Variant, checkpoint_dir: Path, *extra: Callback) -> Trainer:
    if variant == "equinox-bn":
        bn_model, state = eqx.nn.make_with_state(BatchNormMLPVAE)(
            FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(1)
        )
        model: Any = WithState(bn_model, state)
        vae = VAETrainer(model, optax.adam(1e-2), CONFIG, ema_decay=0.9)
    else:
        model, optimizer = make_model_and_optimizer(variant, seed=1)
        vae = VAETrainer(model, optimizer, CONFIG)
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=checkpoint_dir, monitor="loss"))
    return Trainer(vae, callbacks=[checkpoint, *extra], loss_type="bce_logits")


def main() -> None:
    variant, directory, epochs, kill_at = sys.argv[1:]
    assert variant in VARIANTS
    trainer = build(variant, Path(directory), KillAt(int(kill_at)))
    trainer.fit(data(), epochs=int(epochs))
    raise SystemExit("the worker was meant to be killed before finishing")


if __name__ == "__main__":
    main()
