"""Steps per second of data-parallel training on 1 versus 4 devices.

    python benchmarks/scaling.py [--repeats 7] [--devices 4]

Runs the benchmark MLP VAE (64 inputs, 256 hidden, 16 latent, adam) at batch 128 and at
batch 1024 three ways: a VAETrainer without a mesh, one on a mesh of 1 device, and one on
a mesh of all `--devices` devices. On a CPU-only machine the devices are virtual
(`XLA_FLAGS=--xla_force_host_platform_device_count`, set here before JAX starts): they
share the same cores, so the table measures the overhead of sharding, not a speed-up. On a
machine with several GPUs the same script measures real scaling.
"""

import argparse
import os
import statistics
import sys
import time
from typing import Any


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--steps", type=int, default=50, help="steps per timed run")
    parser.add_argument("--devices", type=int, default=4, help="devices of the large mesh")
    return parser.parse_args()


ARGS = _parse()
if "jax" in sys.modules:
    raise RuntimeError("this script sets XLA_FLAGS, so it must run before JAX is imported")
if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={ARGS.devices}"
    )

import jax  # noqa: E402  # after XLA_FLAGS
import numpy as np  # noqa: E402
import optax  # noqa: E402

from elbox import VAETrainer, VAETrainingConfig, data_parallel_mesh  # noqa: E402
from elbox.models import equinox as eqx_models  # noqa: E402

FEATURES, HIDDEN, LATENT = 64, 256, 16
CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=1000)


def _trainer(devices: list[Any] | None) -> VAETrainer[Any]:
    model = eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    mesh = None if devices is None else data_parallel_mesh(devices)
    return VAETrainer(model, optax.adam(1e-4), CONFIG, mesh=mesh)


def main() -> None:
    devices = jax.devices()
    if len(devices) < ARGS.devices:
        raise SystemExit(f"{len(devices)} devices visible; --devices asks for {ARGS.devices}")
    rng = np.random.default_rng(0)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {len(devices)} devices")
    print(f"{ARGS.steps} steps x {ARGS.repeats} repeats, medians\n")
    print("| batch | variant | steps/s | ratio to no mesh |")
    print("|---:|---|---:|---:|")
    for batch_size in (128, 1024):
        batch = rng.uniform(size=(batch_size, FEATURES)).astype(np.float32)
        variants = {
            "no mesh (1 device)": _trainer(None),
            "mesh of 1 device": _trainer(devices[:1]),
            f"mesh of {ARGS.devices} devices": _trainer(devices[: ARGS.devices]),
        }
        for trainer in variants.values():
            jax.block_until_ready(trainer.train_step(batch))  # compile
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(ARGS.repeats):
            for name, trainer in variants.items():
                start = time.perf_counter()
                loss = None
                for _ in range(ARGS.steps):
                    loss, _ = trainer.train_step(batch)
                jax.block_until_ready(loss)
                samples[name].append(ARGS.steps / (time.perf_counter() - start))
        baseline = statistics.median(samples["no mesh (1 device)"])
        for name, values in samples.items():
            rate = statistics.median(values)
            print(f"| {batch_size} | {name} | {rate:.0f} | {rate / baseline:.3f} |")


if __name__ == "__main__":
    main()
