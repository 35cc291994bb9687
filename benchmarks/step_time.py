"""Time one training step of the same MLP VAE several ways, as ratios to a hand-written step.

    python benchmarks/step_time.py [--steps 208] [--repeats 15]

At 64 inputs:

(a) a hand-written pure JAX + optax step under `jax.jit`, donating its buffers (the
    baseline: what a careful user writes);
(a') the same without donation;
(b) the Flax NNX model under `nnx.jit`, as the reference library documents;
(c) elbox `VAETrainer(..., donate=True)` on the NNX model;
(d) elbox `VAETrainer(..., donate=True)` on the same model written in Equinox;
(c'), (d') the same two with `donate=False`, the `VAETrainer` default;
(f) elbox's functional core, `TrainStep`, under the user's own donating `jax.jit`;
(e) elbox `train_steps`, 16 steps fused into one dispatch, per step.

At 784 inputs (MNIST-sized), the fused steps against the donating hand-written step.

Every elbox variant runs with the non-finite guard on (the default `nonfinite="skip"`).
The model: 256 hidden, 16 latent, batch 128, adam. Each repeat times `--steps` steps of
every variant in turn (interleaved, so drifts in machine load hit all alike) and the table
reports medians. Timings are noisy on shared machines: read the ratios.

Then the device memory of one step, from XLA's own accounting of the compiled step
(`compiled.memory_analysis()`: arguments + outputs - buffers aliased by donation + temporaries),
with and without donation, against the size of the training state.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from elbox import TrainStep, VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

HIDDEN, LATENT, BATCH, FUSED = 256, 16, 128, 16
CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=1000)

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""


def _data(features: int, count: int = FUSED) -> jax.Array:
    return jax.random.uniform(jax.random.key(0), (count, BATCH, features))


def _batches(features: int) -> list[jax.Array]:
    # Sliced once, so the timed loops dispatch training steps and nothing else.
    data = _data(features)
    return [data[i] for i in range(FUSED)]


def _eqx_model(features: int) -> eqx_models.MLPVAE:
    return eqx_models.MLPVAE(features, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))


def hand_written_step(features: int, *, donate: bool) -> tuple[Any, Any, Any]:
    """The baseline's compiled step `(params, opt_state, x, step) -> (params, opt_state,
    loss)`, with its initial parameters and optimizer state."""
    model = _eqx_model(features)
    layers = ("encoder", "mean", "logvar", "decoder_hidden", "decoder_out")
    params = {name: (getattr(model, name).weight.T, getattr(model, name).bias) for name in layers}
    tx = optax.adam(1e-4)
    opt_state = tx.init(params)
    base_key = jax.random.key(1)

    def loss_fn(params: Any, x: jax.Array, step: Any) -> jax.Array:
        def dense(name: str, h: jax.Array) -> jax.Array:
            w, b = params[name]
            out: jax.Array = h @ w + b
            return out

        h = jax.nn.relu(dense("encoder", x))
        mean, logvar = dense("mean", h), dense("logvar", h)
        noise = jax.random.normal(jax.random.fold_in(base_key, step), mean.shape)
        z = mean + jnp.exp(0.5 * logvar) * noise
        recon = dense("decoder_out", jax.nn.relu(dense("decoder_hidden", z)))
        recon_loss = jnp.mean(jnp.sum((recon - x) ** 2, axis=1))
        kl = jnp.mean(jnp.sum(-0.5 * (1 + logvar - mean**2 - jnp.exp(logvar)), axis=1))
        weight = jnp.minimum(1.0, step / CONFIG.kl_warmup_steps)
        loss: jax.Array = recon_loss + weight * kl
        return loss

    def step_fn(params: Any, opt_state: Any, x: jax.Array, step: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, step)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step_fn, donate_argnums=(0, 1) if donate else ()), params, opt_state


def pure_jax(features: int, *, donate: bool) -> Runner:
    """(a), (a'): the MLP VAE as a dict of arrays, ELBO by hand, optax, one `jax.jit` step."""
    compiled, params, opt_state = hand_written_step(features, donate=donate)
    data = _batches(features)
    state = {"params": params, "opt_state": opt_state, "step": 0}

    def run(n: int) -> None:
        p, o, s = state["params"], state["opt_state"], state["step"]
        loss = None
        for i in range(n):
            p, o, loss = compiled(p, o, data[i % FUSED], s)
            s += 1
        jax.block_until_ready(loss)
        state.update(params=p, opt_state=o, step=s)

    return run


def nnx_jit(features: int) -> Runner:
    """(b): the reference library's way: its loss inside a step under `nnx.jit`."""
    model = nnx_models.MLPVAE(features, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param)
    loss_of = VAETrainer(model, optimizer, CONFIG).create_loss_fn

    @nnx.jit
    def step_fn(
        model: nnx.Module, optimizer: nnx.Optimizer[Any], x: jax.Array, step: Any
    ) -> jax.Array:
        (loss, _), grads = nnx.value_and_grad(loss_of(step), has_aux=True)(model, x)
        optimizer.update(model, grads)
        result: jax.Array = loss
        return result

    data = _batches(features)
    counter = [0]

    def run(n: int) -> None:
        loss = None
        for i in range(n):
            loss = step_fn(model, optimizer, data[i % FUSED], counter[0])
            counter[0] += 1
        jax.block_until_ready(loss)

    return run


def _elbox(trainer: VAETrainer[Any], features: int) -> Runner:
    data = _batches(features)

    def run(n: int) -> None:
        loss = None
        for i in range(n):
            loss, _ = trainer.train_step(data[i % FUSED])
        jax.block_until_ready(loss)

    return run


def nnx_trainer(features: int, *, donate: bool) -> VAETrainer[Any]:
    """The `VAETrainer` of variants (c) and (c')."""
    model = nnx_models.MLPVAE(features, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param)
    return VAETrainer(model, optimizer, CONFIG, donate=donate)


def equinox_trainer(features: int, *, donate: bool) -> VAETrainer[Any]:
    """The `VAETrainer` of variants (d), (d') and (e)."""
    return VAETrainer(_eqx_model(features), optax.adam(1e-4), CONFIG, donate=donate)


def core_under_jit(features: int) -> Runner:
    """(f): `TrainStep` under the user's own `jax.jit`, donating the state."""
    objective = equinox_trainer(features, donate=False).objective()
    train_step = TrainStep(objective, optax.adam(1e-4))
    state = [train_step.init(_eqx_model(features), key=jax.random.key(1))]
    compiled = jax.jit(train_step, donate_argnums=0)
    data = _batches(features)

    def run(n: int) -> None:
        current, metrics = state[0], None
        for i in range(n):
            current, metrics = compiled(current, data[i % FUSED])
        jax.block_until_ready(metrics)
        state[0] = current

    return run


def fused(features: int) -> Runner:
    """(e): `VAETrainer.train_steps` with 16 steps per dispatch, on the Equinox model."""
    trainer = equinox_trainer(features, donate=True)
    data = _data(features)

    def run(n: int) -> None:
        if n % FUSED:
            raise ValueError(f"the fused variant runs a multiple of {FUSED} steps; got {n}")
        losses = None
        for _ in range(n // FUSED):
            losses, _ = trainer.train_steps(data)
        jax.block_until_ready(losses)

    return run


Variants = dict[str, Callable[[], Runner]]

SMALL: Variants = {
    "(a) pure JAX + optax, jax.jit, donated": lambda: pure_jax(64, donate=True),
    "(a') the same, not donated": lambda: pure_jax(64, donate=False),
    "(b) NNX under nnx.jit": lambda: nnx_jit(64),
    "(c) VAETrainer, NNX, donate=True": lambda: _elbox(nnx_trainer(64, donate=True), 64),
    "(d) VAETrainer, Equinox, donate=True": lambda: _elbox(equinox_trainer(64, donate=True), 64),
    "(c') VAETrainer, NNX, donate=False": lambda: _elbox(nnx_trainer(64, donate=False), 64),
    "(d') VAETrainer, Equinox, donate=False": lambda: _elbox(equinox_trainer(64, donate=False), 64),
    "(f) TrainStep under jax.jit, donated": lambda: core_under_jit(64),
    f"(e) train_steps, {FUSED} fused, per step": lambda: fused(64),
}
LARGE: Variants = {
    "(a) pure JAX + optax, jax.jit, donated": lambda: pure_jax(784, donate=True),
    f"(e) train_steps, {FUSED} fused, per step": lambda: fused(784),
}
TARGETS = {"(c)": 1.03, "(d)": 1.03}
LARGE_TARGETS = {"(e)": 0.90}


def measure(variants: Variants, steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds per step and first-call (compile) seconds of every variant."""
    runners: dict[str, Runner] = {}
    first: dict[str, float] = {}
    for name, make in variants.items():
        runner = make()
        start = time.perf_counter()
        runner(FUSED)  # compiles, then runs a few steps
        first[name] = time.perf_counter() - start
        runners[name] = runner
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner(steps)
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: (statistics.median(samples[name]), first[name]) for name in variants}


def print_table(
    title: str, results: dict[str, tuple[float, float]], targets: dict[str, float]
) -> None:
    """A Markdown table of the results, with ratios to the first variant."""
    baseline = next(iter(results.values()))[0]
    print(f"\n{title}\n")
    print("| variant | us/step | ratio to (a) | target | first call (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, (per_step, first) in results.items():
        target = targets.get(name[:3])
        ratio = per_step / baseline
        verdict = (
            "" if target is None else f"<= {target:.2f} {'met' if ratio <= target else 'MISSED'}"
        )
        print(f"| {name} | {per_step * 1e6:.0f} | {ratio:.3f} | {verdict} | {first:.2f} |")


def _peak(analysis: Any) -> int:
    """Arguments + outputs - the buffers aliased by donation + temporaries."""
    return int(
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        - analysis.alias_size_in_bytes
        + analysis.temp_size_in_bytes
    )


def _step_memory(trainer: VAETrainer[Any], *, donate: bool) -> int:
    """Device bytes one compiled step of a `VAETrainer` needs, by XLA's accounting."""
    steps = trainer.loop_steps(loss_type="mse")  # the trainer's own compiled step
    lowered = steps.engine.lower(steps.train_step, _data(64, 1)[0], donate=donate)
    return _peak(lowered.compile().memory_analysis())


def _hand_written_memory(*, donate: bool) -> int:
    """Device bytes one compiled step of the hand-written baseline (a) needs."""
    compiled, params, opt_state = hand_written_step(64, donate=donate)
    lowered = compiled.lower(params, opt_state, _data(64, 1)[0], 0)
    return _peak(lowered.compile().memory_analysis())


def print_memory() -> None:
    """The peak device memory of one step, with and without donation."""
    trainer = equinox_trainer(64, donate=False)
    state_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(trainer.state))
    batch_bytes = _data(64, 1)[0].nbytes
    print("\nDevice memory of one VAETrainer step (Equinox, 64 inputs), by XLA's accounting\n")
    print("| | bytes | in training states |")
    print("|---|---:|---:|")
    print(f"| the training state | {state_bytes} | 1.00 |")
    for donate in (False, True):
        peak = _step_memory(trainer, donate=donate) - batch_bytes
        print(f"| a step, donate={donate}, less the batch | {peak} | {peak / state_bytes:.2f} |")
    for donate in (False, True):
        peak = _hand_written_memory(donate=donate) - batch_bytes
        print(
            f"| (a) hand-written step, donate={donate}, less the batch | {peak} "
            f"| {peak / state_bytes:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=208, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant")
    args = parser.parse_args()
    steps = max(FUSED, args.steps // FUSED * FUSED)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    print(f"{steps} steps x {args.repeats} repeats, medians")
    print_table("64 inputs", measure(SMALL, steps, args.repeats), TARGETS)
    print_table("784 inputs", measure(LARGE, steps, args.repeats), LARGE_TARGETS)
    print_memory()


if __name__ == "__main__":
    eqx.clear_caches()
    main()
