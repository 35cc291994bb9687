"""Time S seeds trained together (one vmapped step) against S sequential runs.

    python benchmarks/study.py [--seeds 4] [--epochs 100] [--repeats 3] [--model conv]

The setting of `elbox study collapse` (digits, MLP VAE with 32 latent dimensions, adam,
batches of 64, Equinox), trained for `--epochs` epochs per seed, four ways, in one
process:

(a) S sequential runs, each a loop of the steps `Trainer.fit` runs (`VAETrainer.loop_steps`,
    donating buffers): what S `elbox train` runs do, without validation and checkpoints;
(b) S sequential runs of one compiled pure step, `jax.jit(trainer.as_train_step(...))`,
    compiled once and reused for every seed (the best a careful user writes sequentially);
(c) the S seeds together: one `jax.jit(jax.vmap(step))` over the stacked states, as
    `elbox study` trains them (`elbox.cli._study._seeds.train_seeds`);
(d) the S seeds in turn through one compiled step, each batch of each seed, as
    `elbox study` trains the convolutional model's seeds on a CPU.

`--model conv` times the beta study's setting with the convolutional model instead (the
shapes grid, 10 latent dimensions), on the first 40 batches of its training split, with
`--epochs 1` for a short run: on a CPU, (c) is slower than (d) there.

Each variant's time includes its compilation. Repeats are interleaved; the table reports
medians and ratios to (a). Target: (c) <= 0.5 of (a) for the MLP.
"""

import argparse
import dataclasses
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

from elbox.cli._build import build_vae, run_settings
from elbox.cli._options import TrainOptions
from elbox.cli._processes import Processes
from elbox.cli._splits import Splits, batch_loader, load_splits
from elbox.cli._study._seeds import train_seeds

OPTIONS = TrainOptions(
    framework="equinox",
    dataset="digits",
    model="mlp",
    latent=32,
    beta=1.0,
    free_bits=0.0,
    kl_annealing="linear",
    loss_type="bce_logits",
)


ONE = Processes(count=1, index=0, devices=1)


def _loader(options: TrainOptions, splits: Splits, seed: int) -> Any:
    return batch_loader(splits.train, options.batch_size, ONE, shuffle=True, seed=seed)


def _trainers(options: TrainOptions, seeds: list[int], splits: Splits) -> list[Any]:
    steps = options.epochs * len(_loader(options, splits, 0))
    return [
        build_vae(
            dataclasses.replace(options, seed=seed),
            splits.image_shape,
            *run_settings(options, steps),
        )[0]
        for seed in seeds
    ]


def sequential_trainers(options: TrainOptions, seeds: list[int], splits: Splits) -> None:
    """(a): the steps of `Trainer.fit`, a loop per seed."""
    last = None
    for trainer, seed in zip(_trainers(options, seeds, splits), seeds, strict=True):
        steps = trainer.loop_steps(loss_type=options.loss_type, donate=True)
        engine, train_step = steps.engine, steps.train_step
        loader = _loader(options, splits, seed)
        for epoch in range(options.epochs):
            for batch in loader.for_epoch(epoch):
                last = engine.train(train_step, steps.prepare(batch, 1), donate=True)
    jax.block_until_ready(last)


def sequential_pure(options: TrainOptions, seeds: list[int], splits: Splits) -> None:
    """(b): one compiled pure step, reused for every seed in turn."""
    trainers = _trainers(options, seeds, splits)
    step = jax.jit(trainers[0].as_train_step(options.loss_type), donate_argnums=0)
    metrics = None
    for trainer, seed in zip(trainers, seeds, strict=True):
        state = trainer.state
        loader = _loader(options, splits, seed)
        for epoch in range(options.epochs):
            for batch in loader.for_epoch(epoch):
                state, metrics = step(state, batch)
    jax.block_until_ready(metrics)


def as_study_trains(
    options: TrainOptions, seeds: list[int], splits: Splits, *, in_turn: bool
) -> None:
    """(c) and (d): `elbox study`'s own training of the seeds, vmapped together (the MLP's)
    or in turn through one compiled step (the convolutional model's on a CPU)."""
    trained = train_seeds(options, seeds, splits, in_turn=in_turn)
    jax.block_until_ready(trained.trainers[-1].state.params)


VARIANTS: dict[str, Callable[[TrainOptions, list[int], Splits], None]] = {
    "(a) sequential VAETrainer.train_step runs": sequential_trainers,
    "(b) sequential runs of one jitted pure step": sequential_pure,
    "(c) seeds together, one vmapped step": functools.partial(as_study_trains, in_turn=False),
    "(d) seeds in turn, one compiled step": functools.partial(as_study_trains, in_turn=True),
}
# `--model conv`: the beta study's setting with the convolutional model, on the first
# `CONV_BATCHES` batches of its training split (its epochs are long on a CPU).
CONV = dataclasses.replace(OPTIONS, dataset="shapes_grid", model="conv", latent=10)
CONV_BATCHES = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds per setting")
    parser.add_argument(
        "--epochs", type=int, default=100, help="epochs per seed (the collapse study's 100)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant")
    parser.add_argument(
        "--model",
        choices=("mlp", "conv"),
        default="mlp",
        help="mlp: the collapse study's setting; conv: the beta study's with the "
        f"convolutional model, on its first {CONV_BATCHES} batches",
    )
    args = parser.parse_args()
    options = dataclasses.replace(OPTIONS if args.model == "mlp" else CONV, epochs=args.epochs)
    splits = load_splits(options)
    if args.model == "conv":
        splits = dataclasses.replace(
            splits, train=splits.train[: CONV_BATCHES * options.batch_size]
        )
    seeds = list(range(args.seeds))
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, run in VARIANTS.items():
            jax.clear_caches()  # every variant pays its own compilation, every time
            start = time.perf_counter()
            run(options, seeds, splits)
            samples[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(times) for name, times in samples.items()}
    baseline = medians[next(iter(VARIANTS))]
    steps = args.epochs * len(_loader(options, splits, 0))
    print(f"jax {jax.__version__}, backend {jax.default_backend()}")
    setting = "collapse study's" if args.model == "mlp" else "beta study's, conv model,"
    print(
        f"{args.seeds} seeds x {args.epochs} epochs ({steps} steps per seed) of the {setting} "
        f"setting, {args.repeats} repeats, medians, compilation included\n"
    )
    print("| variant | seconds | ratio to (a) | target |")
    print("|---|---:|---:|---:|")
    for name, median in medians.items():
        ratio = median / baseline
        targeted = name.startswith("(c)") and args.model == "mlp"
        target = f"<= 0.50 {'met' if ratio <= 0.5 else 'MISSED'}" if targeted else ""
        print(f"| {name} | {median:.2f} | {ratio:.3f} | {target} |")


if __name__ == "__main__":
    main()
