"""Time `Trainer.fit` over an epoch against a plain loop of `train_step` calls.

    python benchmarks/fit_overhead.py [--repeats 11]

The same MLP VAE as `step_time.py` (64 inputs, 256 hidden, 16 latent, batch 128, adam) on
64 batches per epoch from `elbox.data.batches`:

- plain loop: `for batch in loader.for_epoch(epoch): trainer.train_step(batch)`, on a
  `VAETrainer(..., donate=True)`, since `Trainer.fit` donates too;
- `Trainer.fit(loader, epochs=1)` with `steps_per_dispatch=1` (no callbacks);
- `Trainer.fit` with `steps_per_dispatch=16` (16 steps fused per dispatch);
- `Trainer.fit` with a MetricsLogger and a ProgressBar (plain lines), K=1.

Runs are interleaved; the table reports medians and ratios to the plain loop. Targets: fit's
overhead <= 5% at K=1, and faster than the plain loop at K=16.
"""

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

from elbox import VAETrainer, VAETrainingConfig
from elbox.data import batches
from elbox.models import equinox as eqx_models
from elbox.training import MetricsLogger, ProgressBar, Trainer

FEATURES, HIDDEN, LATENT, BATCH, BATCHES = 64, 256, 16, 128, 64
CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=1000)


def _vae(*, donate: bool = False) -> VAETrainer[Any]:
    model = eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    return VAETrainer(model, optax.adam(1e-4), CONFIG, donate=donate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed epochs per variant")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    loader = batches(rng.uniform(size=(BATCH * BATCHES, FEATURES)).astype(np.float32), BATCH)
    run_dir = Path(tempfile.mkdtemp(prefix="elbox-bench-"))

    plain_vae = _vae(donate=True)

    def plain(epoch: int) -> None:
        loss = None
        for batch in loader.for_epoch(epoch):
            loss, _ = plain_vae.train_step(batch)
        jax.block_until_ready(loss)

    def fit_with(trainer: Trainer) -> Callable[[int], None]:
        def run(epoch: int) -> None:
            trainer.fit(lambda _: loader.for_epoch(epoch), epochs=1)
            jax.block_until_ready(trainer.engine.state.params)

        return run

    callbacks = [MetricsLogger(run_dir), ProgressBar(stream=io.StringIO(), force_plain=True)]
    variants: dict[str, Callable[[int], None]] = {
        "plain loop of train_step": plain,
        "Trainer.fit, steps_per_dispatch=1": fit_with(Trainer(_vae())),
        "Trainer.fit, steps_per_dispatch=16": fit_with(Trainer(_vae(), steps_per_dispatch=16)),
        "Trainer.fit, K=1, logger + progress": fit_with(Trainer(_vae(), callbacks=callbacks)),
    }
    for run in variants.values():  # compile
        run(0)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run(repeat + 1)
            samples[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(times) for name, times in samples.items()}
    baseline = medians["plain loop of train_step"]
    print(f"jax {jax.__version__}, backend {jax.default_backend()}")
    print(f"{BATCHES} steps per epoch x {args.repeats} repeats, medians\n")
    print("| variant | ms/epoch | ratio to plain loop |")
    print("|---|---:|---:|")
    for name, median in medians.items():
        print(f"| {name} | {median * 1e3:.1f} | {median / baseline:.3f} |")


if __name__ == "__main__":
    main()
