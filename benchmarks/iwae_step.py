"""Time a K=50 IWAE training step of elbox against a hand-written `jax.jit` IWAE step with
donated buffers, side by side in one process.

    python benchmarks/iwae_step.py [--steps 40] [--repeats 15] [--samples 50]
        [--output docs/benchmarks/iwae_step.json]

The model is the MLP VAE of `step_time.py` (256 hidden, 16 latent) in Equinox, on batches
of 128 binary examples of 64 values (the digits' size), with the Bernoulli likelihood of
logits (`bce_logits`) and adam. Each step draws K = 50 codes per example and decodes the
6400 codes in one call.

- the baseline: the step a careful user would write by hand: the IWAE loss
  (`-mean(logsumexp_k log w_k - log K)`), `jax.value_and_grad` over the model's arrays,
  the optax update, all under one `jax.jit` that donates the parameters and optimizer
  state;
- `VAETrainer.train_step`: `VAETrainer(..., objective="iwae", donate=True)`, one step per
  call, as a user of the documented API runs it (the non-finite guard included);
- `TrainStep` under `jax.jit` with the state donated: the functional core alone;
- DReG and STL, by `VAETrainer.train_step`: the cost of the other estimators (DReG's
  gate on the codes; STL's log q with fixed parameters), reported without a target.

The target is at most 1.1 times the baseline for the `VAETrainer` step. Each repeat times
`--steps` steps of a variant and of the baseline beside it, in the order baseline,
variant, variant, baseline, so that a drift in the machine's load cancels within the pair;
the table reports the median time per step and the median of the pairs' ratios. The time
is the process's CPU time (all its threads) on the CPU backend, steadier than the
wall-clock time on a machine shared with other jobs, and the wall-clock time on an
accelerator. `--output` writes the results as JSON, which the guide "Tighter bounds: IWAE
and DReG" reads.
"""

import argparse
import functools
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from elbox import IWAEObjective, TrainStep, VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models

HIDDEN, LATENT, BATCH, FEATURES = 256, 16, 128, 64
TARGET = 1.1
LEARNING_RATE = 1e-4

# The runners' keys in the JSON that `--output` writes.
OUTPUT_NAMES = {
    "baseline": "hand-written jax.jit (baseline)",
    "trainer": "VAETrainer.train_step",
    "core": "TrainStep under jax.jit",
    "dreg": "VAETrainer.train_step, dreg",
    "stl": "VAETrainer.train_step, stl",
}

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""


def _model() -> eqx_models.MLPVAE:
    return eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))


def _data() -> jax.Array:
    bits = jax.random.bernoulli(jax.random.key(1), 0.3, (BATCH, FEATURES))
    return bits.astype(jnp.float32)


def hand_written(samples: int) -> Runner:
    """The baseline: a hand-written IWAE step under one donating `jax.jit`."""
    params, static = eqx.partition(_model(), eqx.is_inexact_array)
    optimizer = optax.adam(LEARNING_RATE)
    opt_state = optimizer.init(params)
    x, key = _data(), jax.random.key(2)

    def loss_fn(trained: Any, step_key: jax.Array) -> jax.Array:
        model = eqx.combine(trained, static)
        mean, logvar = model.encode(x)
        eps = jax.random.normal(step_key, (samples, BATCH, LATENT))
        z = mean[None] + jnp.exp(0.5 * logvar)[None] * eps
        logits = model.decode(z.reshape(samples * BATCH, LATENT))
        logits = logits.reshape(samples, BATCH, FEATURES)
        # The Bernoulli log-probability of logits, exact for every logit.
        log_px = jnp.sum(x[None] * logits - jax.nn.softplus(logits), axis=-1)
        log_w = log_px - 0.5 * jnp.sum(z**2 - eps**2 - logvar[None], axis=-1)
        return -jnp.mean(jax.nn.logsumexp(log_w, axis=0) - jnp.log(float(samples)))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(trained: Any, state: Any, number: jax.Array) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(trained, jax.random.fold_in(key, number))
        updates, state = optimizer.update(grads, state, trained)
        return optax.apply_updates(trained, updates), state, loss

    held = {"params": params, "opt_state": opt_state, "step": 0}

    def run(n: int) -> None:
        loss: Any = None
        for _ in range(n):
            number = jnp.asarray(held["step"], jnp.int32)
            held["params"], held["opt_state"], loss = step(
                held["params"], held["opt_state"], number
            )
            held["step"] += 1
        jax.block_until_ready(loss)

    return run


def trainer_step(samples: int, gradient: Any) -> Runner:
    """`VAETrainer(objective="iwae", donate=True).train_step`, one step per call."""
    trainer = VAETrainer(
        _model(),
        optax.adam(LEARNING_RATE),
        VAETrainingConfig(kl_annealing="none", beta=1.0),
        objective="iwae",
        objective_options={"num_samples": samples, "gradient": gradient},
        donate=True,
    )
    x = _data()

    def run(n: int) -> None:
        loss: Any = None
        for _ in range(n):
            loss, _ = trainer.train_step(x, loss_type="bce_logits")
        jax.block_until_ready(loss)

    return run


def core_step(samples: int) -> Runner:
    """`TrainStep(IWAEObjective(K))` under `jax.jit`, the state donated."""
    train_step = TrainStep(
        IWAEObjective(samples, loss_type="bce_logits"), optax.adam(LEARNING_RATE)
    )
    step = jax.jit(train_step, donate_argnums=0)
    held = {"state": train_step.init(_model(), key=jax.random.key(2))}
    x = _data()

    def run(n: int) -> None:
        metrics: Any = None
        for _ in range(n):
            held["state"], metrics = step(held["state"], x)
        jax.block_until_ready(metrics["loss"])

    return run


def _seconds(runner: Runner, steps: int) -> float:
    """Seconds per step: the process's CPU time on the CPU backend (steadier on a shared
    machine), the wall-clock time on an accelerator."""
    clock = time.process_time if jax.default_backend() == "cpu" else time.perf_counter
    start = clock()
    runner(steps)
    return (clock() - start) / steps


def measure(runners: dict[str, Runner], steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Each runner's median seconds per step, and the median of its ratios to the
    baseline timed right beside it (in the order A B B A)."""
    for runner in runners.values():
        runner(2)  # compiles, then runs a step
    baseline = runners["hand-written jax.jit (baseline)"]
    times: dict[str, list[float]] = {name: [] for name in runners}
    ratios: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            if runner is baseline:
                continue
            first = _seconds(baseline, steps)
            mine = _seconds(runner, steps) + _seconds(runner, steps)
            last = _seconds(baseline, steps)
            times[name].append(mine / 2)
            times["hand-written jax.jit (baseline)"].append((first + last) / 2)
            ratios[name].append(mine / (first + last))
    return {
        name: (
            statistics.median(times[name]),
            statistics.median(ratios[name]) if ratios[name] else math.nan,
        )
        for name in runners
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant")
    parser.add_argument("--samples", type=int, default=50, help="K, codes per example")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    print(f"K={args.samples}, {args.steps} steps x {args.repeats} repeats, medians")
    runners = {
        "hand-written jax.jit (baseline)": hand_written(args.samples),
        "VAETrainer.train_step": trainer_step(args.samples, "standard"),
        "TrainStep under jax.jit": core_step(args.samples),
        "VAETrainer.train_step, dreg": trainer_step(args.samples, "dreg"),
        "VAETrainer.train_step, stl": trainer_step(args.samples, "stl"),
    }
    results = measure(runners, args.steps, args.repeats)
    unit = "CPU us/step" if jax.default_backend() == "cpu" else "us/step"
    print(f"\n| step | {unit} | ratio to the baseline | target |")
    print("|---|---:|---:|---:|")
    for name, (per_step, ratio) in results.items():
        if math.isnan(ratio):
            print(f"| {name} | {per_step * 1e6:.0f} | | |")
            continue
        verdict = ""
        if name == "VAETrainer.train_step":
            verdict = f"<= {TARGET:.1f} {'met' if ratio <= TARGET else 'MISSED'}"
        print(f"| {name} | {per_step * 1e6:.0f} | {ratio:.3f} | {verdict} |")
    if args.output is not None:
        record = {
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "samples": args.samples,
            "steps": args.steps,
            "repeats": args.repeats,
            "target": TARGET,
            "microseconds_per_step": {
                key: round(results[name][0] * 1e6, 1) for key, name in OUTPUT_NAMES.items()
            },
            "ratio": {
                key: round(results[name][1], 3)
                for key, name in OUTPUT_NAMES.items()
                if key != "baseline"
            },
        }
        args.output.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    eqx.clear_caches()
    main()
