"""Time a training step under each normalised likelihood against the same step under the
spec's loss it replaces, side by side in one process.

    python benchmarks/likelihood_step.py [--steps 208] [--repeats 15]

The MLP VAE of `step_time.py` (256 hidden, 16 latent, batch 128, adam) in Equinox, run by
`VAETrainer(..., donate=True).train_steps` (16 compiled steps per dispatch, so that the
time is the steps' own), at 64 inputs (the digits) and 784 (MNIST-sized), on 8-bit data in
[0, 1]:

- `bce_logits` (the spec's loss, the command line's default before likelihoods), against
  `continuous_bernoulli` (the default now: the same decoder, the density of [0, 1]) and
  `bernoulli` (a fresh binarisation of each batch, inside the step);
- `mse` (the spec's, a Gaussian of variance 1/2 less its constant), against
  `GaussianLikelihood(variance=0.5)` (the same distribution, constant included);
- `mae` against `LaplaceLikelihood(scale=1.0)`.

Those pairs train the same model: their ratio is the likelihood's cost alone, and the
target is at most 1.05. The likelihoods that read a learned scale or a mixture from the
decoder (`gaussian`, `gaussian_decoder`, `discretised_logistic`, the mixture of 10) train
a model whose last layer is wider; they are reported against `mse` without a target.

Each repeat times `--steps` steps of a variant and of its baseline beside it, in the order
baseline, variant, variant, baseline, so that a drift in the machine's load cancels within
the pair; the table reports the median time per step and the median of the pairs' ratios.
The time is the process's CPU time (all its threads), steadier than the wall-clock time
on a machine shared with other jobs. The mixture of 10 logistics, 30 decoder values per
data value, is timed at 64 inputs only.
"""

import argparse
import math
import statistics
import time
from collections.abc import Callable
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
from elbox.models import equinox as eqx_models

HIDDEN, LATENT, BATCH, FUSED = 256, 16, 128, 16
CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=1000)
TARGET = 1.05

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""

# (variant, its baseline, the loss or likelihood); a pair's ratio has the target.
PAIRS: list[tuple[str, str, AbstractReconstructionLoss]] = [
    ("bce_logits", "", reconstruction_loss("bce_logits")),
    ("continuous_bernoulli", "bce_logits", likelihood_from_name("continuous_bernoulli")),
    ("bernoulli (dynamic binarisation)", "bce_logits", likelihood_from_name("bernoulli")),
    ("mse", "", reconstruction_loss("mse")),
    ("GaussianLikelihood(variance=0.5)", "mse", GaussianLikelihood(variance=0.5)),
    ("mae", "", reconstruction_loss("mae")),
    ("LaplaceLikelihood(scale=1.0)", "mae", LaplaceLikelihood(scale=1.0)),
]
# Wider decoders, against `mse`, reported without a target.
WIDER: list[tuple[str, str, AbstractReconstructionLoss]] = [
    ("gaussian (learned global variance)", "mse", likelihood_from_name("gaussian")),
    ("gaussian_decoder", "mse", likelihood_from_name("gaussian_decoder")),
    ("discretised_logistic", "mse", likelihood_from_name("discretised_logistic")),
    (
        "discretised_logistic_mixture (10)",
        "mse",
        likelihood_from_name("discretised_logistic_mixture"),
    ),
]


TARGETED = {name for name, baseline, _ in PAIRS if baseline}


def _runner(features: int, loss: AbstractReconstructionLoss) -> Runner:
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

    def run(n: int) -> None:
        # `train_steps`: FUSED compiled steps per dispatch, so that the time is the steps'
        # own, not Python's dispatch of each.
        losses: Any = None
        for _ in range(n // FUSED):
            losses, _ = trainer.train_steps(stacked, loss_type=loss)
        jax.block_until_ready(losses)

    return run


def _seconds(runner: Runner, steps: int) -> float:
    """CPU seconds per step of this process (every thread): on a machine shared with other
    jobs it is the steadier figure, as the wall-clock time counts their turns too."""
    start = time.process_time()
    runner(steps)
    return (time.process_time() - start) / steps


def measure(
    features: int,
    variants: list[tuple[str, str, AbstractReconstructionLoss]],
    steps: int,
    repeats: int,
) -> dict[str, tuple[float, float]]:
    """Each variant's median seconds per step, and the median of its ratios to its
    baseline timed right beside it (in the order A B B A, so that a drift in the machine's
    load cancels within a pair)."""
    runners = {name: _runner(features, loss) for name, _, loss in variants}
    for runner in runners.values():
        runner(FUSED)  # compiles, then runs a few steps
    times: dict[str, list[float]] = {name: [] for name in runners}
    ratios: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, baseline, _ in variants:
            if not baseline:
                continue
            first = _seconds(runners[baseline], steps)
            mine = _seconds(runners[name], steps) + _seconds(runners[name], steps)
            last = _seconds(runners[baseline], steps)
            times[name].append(mine / 2)
            times[baseline].append((first + last) / 2)
            ratios[name].append(mine / (first + last))
    return {
        name: (
            statistics.median(times[name]),
            statistics.median(ratios[name]) if ratios[name] else math.nan,
        )
        for name in runners
    }


def print_table(
    title: str,
    variants: list[tuple[str, str, AbstractReconstructionLoss]],
    results: dict[str, tuple[float, float]],
) -> None:
    """A Markdown table: each variant's time per step and its ratio to its baseline."""
    print(f"\n{title}\n")
    print("| likelihood | CPU us/step | against | ratio | target |")
    print("|---|---:|---|---:|---:|")
    for name, baseline, _ in variants:
        per_step, ratio = results[name]
        if not baseline:
            print(f"| {name} | {per_step * 1e6:.0f} | | | |")
            continue
        verdict = (
            f"<= {TARGET:.2f} {'met' if ratio <= TARGET else 'MISSED'}" if name in TARGETED else ""
        )
        print(f"| {name} | {per_step * 1e6:.0f} | {baseline} | {ratio:.3f} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=160, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    steps = max(FUSED, args.steps // FUSED * FUSED)
    print(f"{steps} steps x {args.repeats} repeats, medians")
    for features in (64, 784):
        variants = PAIRS + [w for w in WIDER if features == 64 or "mixture" not in w[0]]
        results = measure(features, variants, steps, args.repeats)
        print_table(f"{features} inputs", variants, results)


if __name__ == "__main__":
    eqx.clear_caches()
    main()
