"""Time elbox.metrics: the likelihood bound against a hand-written baseline, and the scores.

    python benchmarks/metrics.py [--repeats 7] [--no-scores] [--output FILE.json]

1. The likelihood bound with K=1000 on the digits' test split (359 examples of 64 pixels),
   with the reference MLP VAE (64 inputs, 256 hidden units, 16 latent dimensions) and
   `loss_type="bce_logits"`:
   (a) a hand-written `jax.vmap` of the model over the K samples and `logsumexp`, under
       `jax.jit` (the baseline);
   (b) `elbox.metrics.log_likelihood` on the Equinox model;
   (c) the same on the model written in Flax NNX (with weights of its own, so its bound
       differs).
   Each repeat times every variant in turn (interleaved, so drifts in machine load hit all
   alike) and the table reports medians. Target: (b) and (c) within 1.10 of (a).
2. MIG, SAP and modularity on 10,000 x 10 latents (SAP tests on 5,000 more), with factor
   codes drawn from the shapes grid: medians of the repeats, wall and CPU time. Target:
   under 2 s each.
3. The FactorVAE and beta-VAE scores with their defaults (10,000 training and 5,000
   evaluation points of 64 observations) on `ShapesGrid()` (32x32 sprites) and the
   reference MLP encoder (1024 inputs, 256 hidden units, 10 latent dimensions), one run
   each, with the CPU time beside the wall time (on a machine shared with other work the
   CPU time says more). Target: under 60 s each.

Timings are noisy on shared machines: read the ratios. `--output` also writes every number
as JSON, with the machine's processor count and load average (the "Evaluating a VAE" page
reads `docs/benchmarks/metrics.json`).
"""

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import nnx

from elbox._atomic import write_json
from elbox.data import ShapesGrid, digits
from elbox.metrics import beta_vae_score, factor_vae_score, log_likelihood, mig, modularity, sap
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

NUM_SAMPLES, HIDDEN, LATENT = 1000, 256, 16
LIKELIHOOD_TARGET, METRIC_TARGET_S, SCORE_TARGET_S = 1.10, 2.0, 60.0

Runner = Callable[[], jax.Array]
"""Computes the bound of every test example and returns it (already computed)."""


@eqx.filter_jit
def _hand_written(model: eqx_models.MLPVAE, x: jax.Array, key: jax.Array) -> jax.Array:
    mean, logvar = model.encode(x)
    eps = jax.random.normal(key, (NUM_SAMPLES, *mean.shape))
    z = mean[None] + jnp.exp(0.5 * logvar)[None] * eps
    logits = jax.vmap(model.decode)(z)  # (K, batch, 64)
    log_p_x = jnp.sum(x[None] * logits - jax.nn.softplus(logits), axis=-1)
    log_w = log_p_x + 0.5 * jnp.sum(eps**2 - z**2, axis=-1) + 0.5 * jnp.sum(logvar, -1)[None]
    bound: jax.Array = jax.nn.logsumexp(log_w, axis=0) - math.log(NUM_SAMPLES)
    return bound


def likelihood_runners(x: jax.Array) -> dict[str, Runner]:
    eqx_model = eqx_models.MLPVAE(64, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))
    nnx_model = nnx_models.MLPVAE(64, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(0))
    key = jax.random.key(1)

    def elbox_bound(model: Any) -> Runner:
        def run() -> jax.Array:
            bound = log_likelihood(
                model, x, loss_type="bce_logits", num_samples=NUM_SAMPLES, key=key
            )
            return bound.block_until_ready()

        return run

    return {
        "(a) hand-written jax.vmap + logsumexp": lambda: _hand_written(
            eqx_model, x, key
        ).block_until_ready(),
        "(b) elbox log_likelihood, Equinox": elbox_bound(eqx_model),
        "(c) elbox log_likelihood, NNX": elbox_bound(nnx_model),
    }


def time_interleaved(
    runners: dict[str, Callable[[], Any]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds per call of every runner, after one call each to compile."""
    for run in runners.values():
        run()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start, cpu = time.perf_counter(), time.process_time()
            run()
            samples[name].append((time.perf_counter() - start, time.process_time() - cpu))
    return {
        name: (
            statistics.median(wall for wall, _ in values),
            statistics.median(cpu for _, cpu in values),
        )
        for name, values in samples.items()
    }


def codes(grid: ShapesGrid, num: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Factor codes of the grid, and 10 latents: the 5 factors mixed and noisy, 5 of noise."""
    rng = np.random.default_rng(0)
    factors = grid.sample_factors(num, np.random.RandomState(0))
    standard = (factors - factors.mean(0)) / factors.std(0)
    mixed = standard @ (np.eye(5) + 0.3 * rng.normal(size=(5, 5))) + 0.3 * rng.normal(size=(num, 5))
    return np.concatenate([mixed, rng.normal(size=(num, 5))], axis=1), factors


CODES, CODES_TEST, CODES_LATENT = 10_000, 5_000, 10
"""The codes the metrics time: examples (SAP's training ones), SAP's test ones, latents."""


def time_codes_metrics(repeats: int) -> dict[str, tuple[float, float]]:
    latents, factors = codes(ShapesGrid(), CODES + CODES_TEST)
    train, test = slice(0, CODES), slice(CODES, CODES + CODES_TEST)
    runners: dict[str, Callable[[], Any]] = {
        "mig": lambda: mig(latents[train], factors[train]),
        "sap": lambda: sap(latents[train], factors[train], latents[test], factors[test]),
        "modularity": lambda: modularity(latents[train], factors[train]),
    }
    return time_interleaved(runners, repeats)


# Observations each score encodes at its defaults: the FactorVAE score's votes of 64 and its
# variance points; the beta-VAE score's pairs of batches of 64.
SCORE_IMAGES = {
    "factor_vae_score": (10_000 + 5_000) * 64 + 10_000,
    "beta_vae_score": (10_000 + 5_000) * 2 * 64,
}


def time_scores() -> dict[str, tuple[float, float, float]]:
    grid = ShapesGrid()
    model = eqx_models.MLPVAE(32 * 32, hidden=HIDDEN, latent=10, key=jax.random.key(0))
    encode = jax.jit(lambda images: model.encode(images.reshape(images.shape[0], -1))[0])

    def represent(observations: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.asarray(encode(observations))

    results = {}
    for name, score in (("factor_vae_score", factor_vae_score), ("beta_vae_score", beta_vae_score)):
        start, cpu = time.perf_counter(), time.process_time()
        value = score(represent, grid, seed=0)
        results[name] = (time.perf_counter() - start, time.process_time() - cpu, value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    parser.add_argument(
        "--no-scores", action="store_true", help="skip the FactorVAE and beta-VAE scores"
    )
    parser.add_argument("--output", default=None, help="also write the numbers as JSON here")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    record: dict[str, Any] = {
        "command": "python benchmarks/metrics.py"
        + (f" --output {args.output}" if args.output else ""),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "repeats": args.repeats,
        "targets": {
            "likelihood_ratio": LIKELIHOOD_TARGET,
            "metric_seconds": METRIC_TARGET_S,
            "score_seconds": SCORE_TARGET_S,
        },
    }

    x = jnp.asarray(digits().test)
    runners = likelihood_runners(x)
    means = {name: float(jnp.mean(run())) for name, run in runners.items()}
    seconds = {name: wall for name, (wall, _) in time_interleaved(runners, args.repeats).items()}
    baseline = seconds[next(iter(runners))]
    pairs = x.shape[0] * NUM_SAMPLES
    record["likelihood"] = {
        "examples": int(x.shape[0]),
        "samples": NUM_SAMPLES,
        "variants": {
            name[:3]: {"name": name[4:], "seconds": value, "ratio": value / baseline}
            for name, value in seconds.items()
        },
    }
    print(f"\nlog_likelihood, K={NUM_SAMPLES}, {x.shape[0]} examples: ", end="")
    print(f"{args.repeats} repeats, medians\n")
    print("| variant | s | examples x samples / s | ratio to (a) | target | mean bound (nats) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, value in seconds.items():
        ratio = value / baseline
        verdict = (
            ""
            if name.startswith("(a)")
            else (f"<= {LIKELIHOOD_TARGET:.2f} {'met' if ratio <= LIKELIHOOD_TARGET else 'MISSED'}")
        )
        print(
            f"| {name} | {value:.3f} | {pairs / value:,.0f} | {ratio:.3f} | {verdict} "
            f"| {means[name]:.2f} |"
        )

    print(f"\nmetrics on 10,000 x 10 latents (SAP: 5,000 test), {args.repeats} repeats, medians\n")
    print("| metric | s | CPU s | target |")
    print("|---|---:|---:|---:|")
    record["codes"] = {"examples": CODES, "test": CODES_TEST, "latents": CODES_LATENT}
    for name, (value, cpu) in time_codes_metrics(args.repeats).items():
        verdict = "met" if value < METRIC_TARGET_S else "MISSED"
        print(f"| {name} | {value:.3f} | {cpu:.3f} | < {METRIC_TARGET_S:.0f} s {verdict} |")
        record["codes"][name] = {"seconds": value, "cpu_seconds": cpu}

    if not args.no_scores:
        print("\nscores with their defaults on ShapesGrid() and an MLP encoder, one run each\n")
        print("| score | s | CPU s | target | value (untrained encoder) |")
        print("|---|---:|---:|---:|---:|")
        record["scores"] = {}
        for name, (value, cpu, score) in time_scores().items():
            verdict = "met" if value < SCORE_TARGET_S else "MISSED"
            print(
                f"| {name} | {value:.1f} | {cpu:.1f} | < {SCORE_TARGET_S:.0f} s {verdict} "
                f"| {score:.3f} |"
            )
            record["scores"][name] = {
                "seconds": value,
                "cpu_seconds": cpu,
                "million_images": SCORE_IMAGES[name] / 1e6,
            }
    record["load_average_after"] = os.getloadavg()[0]
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
        print(f"written to {path}")


if __name__ == "__main__":
    eqx.clear_caches()
    main()
