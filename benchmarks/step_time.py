"""Time one training step of the same MLP VAE five ways, as ratios to a hand-written step.

    python benchmarks/step_time.py [--steps 200] [--repeats 15]

(a) a hand-written pure JAX + optax step under `jax.jit` (the baseline);
(b) the Flax NNX model under `nnx.jit`, as the reference library documents;
(c) elbox `VAETrainer` on the NNX model;
(d) elbox `VAETrainer` on the same model written in Equinox;
(e) elbox `train_steps`, 16 steps fused into one dispatch, per step.

The model: 64 inputs, 256 hidden, 16 latent, batch 128, adam. Each repeat times `--steps`
steps of every variant in turn (interleaved, so drifts in machine load hit all alike) and
the table reports medians. Timings are noisy on shared machines: read the ratios.
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

from elbox import VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

FEATURES, HIDDEN, LATENT, BATCH, FUSED = 64, 256, 16, 128, 16
CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=1000)

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""


def _data(steps: int) -> jax.Array:
    return jax.random.uniform(jax.random.key(0), (steps, BATCH, FEATURES))


def _batches() -> list[jax.Array]:
    # Sliced once, so the timed loops dispatch training steps and nothing else.
    data = _data(FUSED)
    return [data[i] for i in range(FUSED)]


def pure_jax(steps: int) -> Runner:
    """(a): the MLP VAE as a dict of arrays, ELBO by hand, optax, one `jax.jit` step."""
    model = eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
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

    @jax.jit
    def step_fn(params: Any, opt_state: Any, x: jax.Array, step: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, step)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    data = _batches()
    state = {"params": params, "opt_state": opt_state, "step": 0}

    def run(n: int) -> None:
        p, o, s = state["params"], state["opt_state"], state["step"]
        loss = None
        for i in range(n):
            p, o, loss = step_fn(p, o, data[i % FUSED], s)
            s += 1
        jax.block_until_ready(loss)
        state.update(params=p, opt_state=o, step=s)

    return run


def nnx_jit(steps: int) -> Runner:
    """(b): the reference library's way: its loss inside a step under `nnx.jit`."""
    model = nnx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(0))
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

    data = _batches()
    counter = [0]

    def run(n: int) -> None:
        loss = None
        for i in range(n):
            loss = step_fn(model, optimizer, data[i % FUSED], counter[0])
            counter[0] += 1
        jax.block_until_ready(loss)

    return run


def _elbox(trainer: VAETrainer[Any]) -> Runner:
    data = _batches()

    def run(n: int) -> None:
        loss = None
        for i in range(n):
            loss, _ = trainer.train_step(data[i % FUSED])
        jax.block_until_ready(loss)

    return run


def elbox_nnx(steps: int) -> Runner:
    """(c): `VAETrainer.train_step` on the NNX model."""
    model = nnx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param)
    return _elbox(VAETrainer(model, optimizer, CONFIG))


def elbox_equinox(steps: int) -> Runner:
    """(d): `VAETrainer.train_step` on the Equinox model."""
    model = eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    return _elbox(VAETrainer(model, optax.adam(1e-4), CONFIG))


def elbox_fused(steps: int) -> Runner:
    """(e): `VAETrainer.train_steps` with 16 steps per dispatch, on the Equinox model."""
    model = eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    trainer = VAETrainer(model, optax.adam(1e-4), CONFIG)
    data = _data(FUSED)

    def run(n: int) -> None:
        if n % FUSED:
            raise ValueError(f"the fused variant runs a multiple of {FUSED} steps; got {n}")
        losses = None
        for _ in range(n // FUSED):
            losses, _ = trainer.train_steps(data)
        jax.block_until_ready(losses)

    return run


VARIANTS: dict[str, Callable[[int], Runner]] = {
    "(a) pure JAX + optax, jax.jit": pure_jax,
    "(b) NNX under nnx.jit": nnx_jit,
    "(c) elbox VAETrainer, NNX": elbox_nnx,
    "(d) elbox VAETrainer, Equinox": elbox_equinox,
    f"(e) elbox train_steps, {FUSED} fused": elbox_fused,
}
TARGETS = {"(c)": 1.10, "(d)": 1.05, "(e)": 0.90}


def measure(steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds per step and first-call (compile) seconds of every variant."""
    runners: dict[str, Runner] = {}
    first: dict[str, float] = {}
    for name, make in VARIANTS.items():
        runner = make(steps)
        start = time.perf_counter()
        runner(FUSED)  # compiles, then runs a few steps
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
    parser.add_argument("--steps", type=int, default=208, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant")
    args = parser.parse_args()
    steps = max(FUSED, args.steps // FUSED * FUSED)
    results = measure(steps, args.repeats)
    baseline = results[next(iter(VARIANTS))][0]
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    print(f"{steps} steps x {args.repeats} repeats, medians\n")
    print("| variant | us/step | ratio to (a) | target | first call (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, (per_step, first) in results.items():
        target = TARGETS.get(name[:3])
        ratio = per_step / baseline
        verdict = (
            "" if target is None else f"<= {target:.2f} {'met' if ratio <= target else 'MISSED'}"
        )
        print(f"| {name} | {per_step * 1e6:.0f} | {ratio:.3f} | {verdict} | {first:.2f} |")


if __name__ == "__main__":
    eqx.clear_caches()
    main()
