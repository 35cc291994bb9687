"""A training run in its own process, for the SIGKILL resume tests.

    python -m tests.resume_worker FRAMEWORK CHECKPOINT_DIR EPOCHS KILL_AT_STEP

Trains the test VAE with a ModelCheckpoint in CHECKPOINT_DIR and kills itself with SIGKILL
once step KILL_AT_STEP's metrics arrive (mid-epoch, possibly mid-save).
"""

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from elbox import VAETrainer, VAETrainingConfig
from elbox.data import batches
from elbox.training import Callback, CheckpointConfig, ModelCheckpoint, Trainer

from .helpers import Framework, make_model_and_optimizer, patterns

CONFIG = VAETrainingConfig(kl_annealing="cyclical", cyclical_period=10, beta=2.0, free_bits=0.1)


class KillAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Any, step: int, metrics: Mapping[str, float]) -> None:
        if step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def data() -> Any:
    return batches(np.asarray(patterns(96), np.float32), 16, seed=3)  # 6 shuffled batches


def build(framework: Framework, checkpoint_dir: Path, *extra: Callback) -> Trainer:
    model, optimizer = make_model_and_optimizer(framework, seed=1)
    vae = VAETrainer(model, optimizer, CONFIG)
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=checkpoint_dir, monitor="loss"))
    return Trainer(vae, callbacks=[checkpoint, *extra], loss_type="bce_logits")


def main() -> None:
    framework, directory, epochs, kill_at = sys.argv[1:]
    assert framework in ("nnx", "equinox")
    trainer = build(framework, Path(directory), KillAt(int(kill_at)))  # type: ignore[arg-type]
    trainer.fit(data(), epochs=int(epochs))
    raise SystemExit("the worker was meant to be killed before finishing")


if __name__ == "__main__":
    main()
