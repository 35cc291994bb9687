"""Time a training step under each normalised likelihood against the same step under the
spec's loss it replaces, side by side in one process.

    python benchmarks/likelihood_step.py [--steps 160] [--repeats 15]
        [--output docs/benchmarks/likelihood_step.json]

The MLP VAE of `step_time.py` (256 hidden, 16 latent, batch 128, adam) in Equinox, run by
`VAETrainer(..., donate=True).train_steps` (16 compiled steps per dispatch, so that the
time is the steps' own), at 64 inputs (the digits) and 784 (MNIST-sized), on 8-bit data in
[0, 1]:

- `bce_logits` (the spec's loss, the command line's default before likelihoods), against
  `continuous_bernoulli` (the default now: the same decoder, the density of [0, 1]);
- `bernoulli` with dynamic binarisation (a fresh binarisation of each batch, inside the
  step), against `bce_logits` on batches the caller binarises with `jax.random.bernoulli`
  before `train_steps` (how dynamically binarised data trains with a spec loss); and
  against `bce_logits` on the grey levels, without a target: the draw's own cost;
- `mse` (the spec's, a Gaussian of variance 1/2 less its constant), against
  `GaussianLikelihood(variance=0.5)` (the same distribution, constant included);
- `mae` against `LaplaceLikelihood(scale=1.0)`.

Those pairs train the same model on the same data: their ratio is the likelihood's cost
alone, and the target is at most 1.05. The likelihoods that read a learned scale or a
mixture from the decoder (`gaussian`, `gaussian_decoder`, `discretised_logistic`, the
mixture of 10) train a model whose last layer is wider; they are reported against `mse`
without a target.

Each repeat times `--steps` steps of a variant and of its baseline beside it, in the order
baseline, variant, variant, baseline, so that a drift in the machine's load cancels within
the pair; the table reports the median time per step and the median of the pairs' ratios.
The time is the process's CPU time (all its threads), steadier than the wall-clock time
on a machine shared with other jobs. The mixture of 10 logistics, 30 decoder values per
data value, is timed at 64 inputs only. `--output` writes the tables as JSON, which the
guide "Likelihoods" shows.
"""

import argparse
import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import optax

from elbox import (
    AbstractReconstructionLoss,
    GaussianLikelihood,
    LaplaceLikelihood,
    VAETrainer,
    VAETrainingConfig,
    likelihood_from_name,
    reconstruction_loss,
)
from elbox._atomic import write_json
from elbox.models import equinox as eqx_models

HIDDEN, LATENT, BATCH, FUSED = 256, 16, 128, 16
CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=1000)
TARGET = 1.05

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One timed step: `key` names it in the JSON, `label` in the table; `baseline` is the
    key of the step its ratio is taken against ("" for a baseline), `targeted` whether
    that ratio has the target."""

    key: str
    label: str
    loss: AbstractReconstructionLoss
    baseline: str = ""
    targeted: bool = False
    # The batches binarised by the caller (`jax.random.bernoulli`, compiled) before
    # `train_steps`: how a user trains on dynamically binarised data with a spec loss.
    binarised_by_caller: bool = False


BCE_LOGITS = reconstruction_loss("bce_logits")
BERNOULLI = likelihood_from_name("bernoulli")
# Pairs that train the same model: the ratio is the likelihood's cost alone.
PAIRS: list[Variant] = [
    Variant("bce_logits", "bce_logits", BCE_LOGITS),
    Variant(
        "continuous_bernoulli",
        "continuous_bernoulli",
        likelihood_from_name("continuous_bernoulli"),
        "bce_logits",
        targeted=True,
    ),
    Variant(
        "bce_logits_binarised",
        "bce_logits, batches binarised by the caller",
        BCE_LOGITS,
        binarised_by_caller=True,
    ),
    Variant(
        "bernoulli_dynamic",
        "bernoulli (dynamic binarisation)",
        BERNOULLI,
        "bce_logits_binarised",
        targeted=True,
    ),
    # The same step against `bce_logits` on grey levels: what the draw itself costs.
    Variant(
        "bernoulli_dynamic_draw",
        "bernoulli (dynamic binarisation)",
        BERNOULLI,
        "bce_logits",
    ),
    Variant("mse", "mse", reconstruction_loss("mse")),
    Variant(
        "gaussian_fixed",
        "GaussianLikelihood(variance=0.5)",
        GaussianLikelihood(variance=0.5),
        "mse",
        targeted=True,
    ),
    Variant("mae", "mae", reconstruction_loss("mae")),
    Variant(
        "laplace_fixed",
        "LaplaceLikelihood(scale=1.0)",
        LaplaceLikelihood(scale=1.0),
        "mae",
        targeted=True,
    ),
]
# Wider decoders, against `mse`, reported without a target.
WIDER: list[Variant] = [
    Variant(
        "gaussian_learned",
        "gaussian (learned global variance)",
        likelihood_from_name("gaussian"),
        "mse",
    ),
    Variant(
        "gaussian_decoder", "gaussian_decoder", likelihood_from_name("gaussian_decoder"), "mse"
    ),
    Variant(
        "logistic", "discretised_logistic", likelihood_from_name("discretised_logistic"), "mse"
    ),
    Variant(
        "logistic_mixture",
        "discretised_logistic_mixture (10)",
        likelihood_from_name("discretised_logistic_mixture"),
        "mse",
    ),
]


def _runner(features: int, variant: Variant) -> Runner:
    loss = variant.loss
    outputs = getattr(loss, "decoder_outputs", None)
    model = eqx_models.MLPVAE(
        features,
        hidden=HIDDEN,
        latent=LATENT,
        **({} if outputs is None else {"decoder_outputs": outputs}),
        key=jax.random.key(0),
    )
    trainer = VAETrainer(model, optax.adam(1e-4), CONFIG, donate=True)
    # 8-bit values in [0, 1], so that every likelihood here is one of the data.
    data = jax.random.randint(jax.random.key(1), (FUSED, BATCH, features), 0, 256) / 255.0
    stacked = data.astype("float32")
    binarise = jax.jit(
        lambda key, dispatch: jax.random.bernoulli(
            jax.random.fold_in(key, dispatch), stacked
        ).astype(stacked.dtype)
    )
    key = jax.random.key(2)

    def run(n: int) -> None:
        # `train_steps`: FUSED compiled steps per dispatch, so that the time is the steps'
        # own, not Python's dispatch of each.
        losses: Any = None
        for dispatch in range(n // FUSED):
            batches = binarise(key, dispatch) if variant.binarised_by_caller else stacked
            losses, _ = trainer.train_steps(batches, loss_type=loss)
        jax.block_until_ready(losses)

    return run


def _seconds(runner: Runner, steps: int) -> float:
    """CPU seconds per step of this process (every thread): on a machine shared with other
    jobs it is the steadier figure, as the wall-clock time counts their turns too."""
    start = time.process_time()
    runner(steps)
    return (time.process_time() - start) / steps


def measure(
    features: int, variants: list[Variant], steps: int, repeats: int
) -> dict[str, tuple[float, float]]:
    """Each variant's median seconds per step, and the median of its ratios to its
    baseline timed right beside it (in the order A B B A, so that a drift in the machine's
    load cancels within a pair)."""
    runners = {variant.key: _runner(features, variant) for variant in variants}
    for runner in runners.values():
        runner(FUSED)  # compiles, then runs a few steps
    times: dict[str, list[float]] = {key: [] for key in runners}
    ratios: dict[str, list[float]] = {key: [] for key in runners}
    for _ in range(repeats):
        for variant in variants:
            if not variant.baseline:
                continue
            first = _seconds(runners[variant.baseline], steps)
            mine = _seconds(runners[variant.key], steps) + _seconds(runners[variant.key], steps)
            last = _seconds(runners[variant.baseline], steps)
            times[variant.key].append(mine / 2)
            times[variant.baseline].append((first + last) / 2)
            ratios[variant.key].append(mine / (first + last))
    return {
        key: (
            statistics.median(times[key]),
            statistics.median(ratios[key]) if ratios[key] else math.nan,
        )
        for key in runners
    }


def print_table(
    title: str, variants: list[Variant], results: dict[str, tuple[float, float]]
) -> None:
    """A Markdown table: each variant's time per step and its ratio to its baseline."""
    labels = {variant.key: variant.label for variant in variants}
    print(f"\n{title}\n")
    print("| likelihood | CPU us/step | against | ratio | target |")
    print("|---|---:|---|---:|---:|")
    for variant in variants:
        per_step, ratio = results[variant.key]
        if not variant.baseline:
            print(f"| {variant.label} | {per_step * 1e6:.0f} | | | |")
            continue
        verdict = ""
        if variant.targeted:
            verdict = f"<= {TARGET:.2f} {'met' if ratio <= TARGET else 'MISSED'}"
        against = labels[variant.baseline]
        print(f"| {variant.label} | {per_step * 1e6:.0f} | {against} | {ratio:.3f} | {verdict} |")


def record(
    variants: list[Variant], results: dict[str, tuple[float, float]]
) -> dict[str, dict[str, Any]]:
    """The table as JSON: each variant's microseconds per step and, against its baseline,
    the ratio and whether it has the target."""
    rows: dict[str, dict[str, Any]] = {}
    for variant in variants:
        per_step, ratio = results[variant.key]
        row: dict[str, Any] = {"microseconds_per_step": round(per_step * 1e6, 1)}
        if variant.baseline:
            row |= {
                "against": variant.baseline,
                "ratio": round(ratio, 3),
                "targeted": variant.targeted,
            }
        rows[variant.key] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=160, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    steps = max(FUSED, args.steps // FUSED * FUSED)
    print(f"{steps} steps x {args.repeats} repeats, medians")
    inputs: dict[str, dict[str, dict[str, Any]]] = {}
    for features in (64, 784):
        variants = PAIRS + [w for w in WIDER if features == 64 or w.key != "logistic_mixture"]
        results = measure(features, variants, steps, args.repeats)
        print_table(f"{features} inputs", variants, results)
        inputs[str(features)] = record(variants, results)
    if args.output is not None:
        document = {
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "cpus": os.cpu_count(),
            "steps": steps,
            "repeats": args.repeats,
            "target": TARGET,
            "inputs": inputs,
        }
        write_json(args.output, document)  # whole or absent


if __name__ == "__main__":
    eqx.clear_caches()
    main()
