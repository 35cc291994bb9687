"""Time `TrainStep` with each of its options, as ratios to the plain float32 step.

    python benchmarks/step_features.py [--steps 64] [--repeats 9]

The Equinox MLP VAE (256 hidden, 16 latent, adam, batch 128) at 784 inputs (MNIST-sized,
where the matrix products dominate), each variant a `TrainStep` under the user's own
donating `jax.jit`:

(a) float32, no options (the baseline);
(b) `ema_decay=0.999`: one more pass over the parameters per step;
(c) `accumulate=4`: the same 128 examples as 4 micro-batches of 32, one update;
(d) `precision="bfloat16"`;
(e) `precision="float16"`, with dynamic loss scaling;
(f) the BatchNorm reference model (`WithState`), float32.

Each repeat times `--steps` steps of every variant in turn (interleaved, so drifts in
machine load hit all alike) and the table reports medians. Timings are noisy on shared
machines: read the ratios. On a CPU, 16-bit floats are not faster: XLA's CPU backend
computes most 16-bit operations by converting to float32 and back; mixed precision pays
off on accelerators with 16-bit matrix units (GPUs, TPUs).
"""

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import optax

from elbox import ELBOObjective, LinearWarmup, TrainStep, WithState
from elbox.models import equinox as eqx_models

FEATURES, HIDDEN, LATENT, BATCH, BATCHES = 784, 256, 16, 128, 8
OBJECTIVE = ELBOObjective(schedule=LinearWarmup(beta=1.0, warmup_steps=1000))

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""


def _batches() -> list[jax.Array]:
    data = jax.random.uniform(jax.random.key(0), (BATCHES, BATCH, FEATURES))
    return [data[i] for i in range(BATCHES)]


def _model(batch_norm: bool) -> Any:
    if not batch_norm:
        return eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    model, state = eqx.nn.make_with_state(eqx_models.BatchNormMLPVAE)(
        FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0)
    )
    return WithState(model, state)


def core(*, batch_norm: bool = False, **options: Any) -> Runner:
    """A `TrainStep` with `options` under a donating `jax.jit`."""
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-4), **options)
    state = [train_step.init(_model(batch_norm), key=jax.random.key(1))]
    compiled = jax.jit(train_step, donate_argnums=0)
    data = _batches()

    def run(n: int) -> None:
        current, metrics = state[0], None
        for i in range(n):
            current, metrics = compiled(current, data[i % BATCHES])
        jax.block_until_ready(metrics)
        state[0] = current

    return run


VARIANTS: dict[str, Callable[[], Runner]] = {
    "(a) float32, no options": lambda: core(),
    "(b) ema_decay=0.999": lambda: core(ema_decay=0.999),
    "(c) accumulate=4 (4 x 32 examples)": lambda: core(accumulate=4),
    '(d) precision="bfloat16"': lambda: core(precision="bfloat16"),
    '(e) precision="float16"': lambda: core(precision="float16"),
    "(f) BatchNorm model (WithState)": lambda: core(batch_norm=True),
}


def measure(steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds per step and first-call (compile) seconds of every variant."""
    runners: dict[str, Runner] = {}
    first: dict[str, float] = {}
    for name, make in VARIANTS.items():
        runner = make()
        start = time.perf_counter()
        runner(BATCHES)  # compiles, then runs a few steps
        first[name] = time.perf_counter() - start
        runners[name] = runner
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner(steps)
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: (statistics.median(samples[name]), first[name]) for name in VARIANTS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per variant")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    print(f"{args.steps} steps x {args.repeats} repeats, medians, {FEATURES} inputs\n")
    results = measure(args.steps, args.repeats)
    baseline = next(iter(results.values()))[0]
    print("| variant | us/step | ratio to (a) | first call (s) |")
    print("|---|---:|---:|---:|")
    for name, (per_step, first) in results.items():
        print(f"| {name} | {per_step * 1e6:.0f} | {per_step / baseline:.3f} | {first:.2f} |")


if __name__ == "__main__":
    eqx.clear_caches()
    main()
