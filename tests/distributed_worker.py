"""One of two processes of a data-parallel training run, for tests/test_distributed.py.

    JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=I \\
    XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
    python -m tests.distributed_worker FRAMEWORK RUN_DIR

Each process feeds its half of every global batch of `global_batches()`; process 0 saves
the final parameters to RUN_DIR/params.npz.
"""

import sys
from pathlib import Path
from typing import Any

import numpy as np

import elbox.distributed
from elbox import VAETrainingConfig, data_parallel_mesh
from elbox.training import CheckpointConfig, MetricsLogger, ModelCheckpoint, Trainer

from .helpers import Framework, make_trainer, params_of, patterns

CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10, beta=2.0, free_bits=0.1)
GLOBAL_BATCH, BATCHES, EPOCHS = 8, 5, 2


def global_batches() -> list[np.ndarray[Any, Any]]:
    """The global batches: the same in every process and in the single-process reference."""
    data = np.asarray(patterns(GLOBAL_BATCH * BATCHES), np.float32)
    noise = np.random.default_rng(0).normal(scale=0.1, size=data.shape)
    data = np.clip(data + noise, 0, 1).astype(np.float32)
    return [data[i * GLOBAL_BATCH : (i + 1) * GLOBAL_BATCH] for i in range(BATCHES)]


def main() -> None:
    framework: Framework = "nnx" if sys.argv[1] == "nnx" else "equinox"
    run_dir = Path(sys.argv[2])
    config = elbox.distributed.initialize()
    assert config.num_processes == 2
    import jax

    assert jax.device_count() == 4
    index, share = jax.process_index(), GLOBAL_BATCH // 2
    local = [batch[index * share : (index + 1) * share] for batch in global_batches()]
    vae = make_trainer(framework, CONFIG)
    callbacks = [
        MetricsLogger(run_dir / "logs"),
        ModelCheckpoint(CheckpointConfig(dirpath=run_dir / "checkpoints")),
    ]
    Trainer(vae, callbacks=callbacks, mesh=data_parallel_mesh()).fit(
        local, epochs=EPOCHS, val_data=local[:1]
    )
    if elbox.distributed.is_primary_process():
        np.savez(run_dir / "params.npz", *params_of(vae.model))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
