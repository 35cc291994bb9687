"""The seeds of one setting, trained together: one vmapped `TrainStep` over stacked states.

Each seed is the run that `elbox train --seed S` makes of the same options (the same
initial parameters, data order, noise and schedule), without validation or checkpoints:
its state starts as that run's `VAETrainer.state`, and each step applies the trainer's own
pure step (`VAETrainer.as_train_step`) to every seed at once, on each seed's own batch. One
compilation, one dispatch per step, whatever the number of seeds.

The convolutional model on a CPU is the exception: there the seeds take the compiled step
in turn, one dispatch per seed. A vmapped step gives each seed's convolutions their own
kernels, a batched convolution that XLA's CPU backend runs slowly: three seeds of the
convolutional VAE on the shapes grid took 1.7 times as long together as in turn, with
compilation (`benchmarks/study.py --model conv --epochs 1`). The MLP's seeds gain from
the vmap.
"""

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...trainers._vae_trainer import VAETrainer
from .._build import build_vae, run_settings
from .._likelihood import run_likelihood
from .._options import TrainOptions
from .._processes import Processes
from .._progress import progress
from .._splits import Splits, batch_loader


@dataclasses.dataclass(frozen=True)
class TrainedSeeds:
    """The seeds of one setting after training.

    Attributes:
        trainers: one `VAETrainer` per seed, holding that seed's final state.
        seconds: the wall time of the training, compilation included.
        skipped: how many steps each seed skipped (non-finite loss or gradients).
        steps_per_epoch: the steps of one epoch (whole batches of the training split).
    """

    trainers: list[VAETrainer[Any]]
    seconds: float
    skipped: list[int]
    steps_per_epoch: int


def stack(trees: Sequence[Any]) -> Any:
    """Trees of equal structure, stacked leaf by leaf along a new leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any, count: int) -> list[Any]:
    """The `count` trees that `stack` made `tree` of."""
    return [jax.tree.map(lambda leaf, i=index: leaf[i], tree) for index in range(count)]


def train_seeds(
    options: TrainOptions,
    seeds: Sequence[int],
    splits: Splits,
    *,
    in_turn: bool | None = None,
) -> TrainedSeeds:
    """Train `options` once per seed: all seeds in one vmapped step per batch, or, with
    `in_turn` (by default `seeds_in_turn(options)`), each seed's state through the same
    compiled step in turn."""
    start = time.perf_counter()
    one = Processes(count=1, index=0, devices=1)
    loaders = [
        batch_loader(
            splits.train, options.batch_size * options.accumulate, one, shuffle=True, seed=seed
        )
        for seed in seeds
    ]
    steps_per_epoch = len(loaders[0])
    steps = options.epochs * steps_per_epoch
    trainers = [
        build_vae(
            dataclasses.replace(options, seed=seed),
            splits.image_shape,
            *run_settings(options, steps),
        )[0]
        for seed in seeds
    ]
    train_step = trainers[0].as_train_step(run_likelihood(options))
    if in_turn is None:
        in_turn = seeds_in_turn(options)
    step = jax.jit(train_step if in_turn else jax.vmap(train_step), donate_argnums=0)
    states = [trainer.state for trainer in trainers]
    stacked = None if in_turn else stack(states)
    with progress(options.epochs, f"training {len(seeds)} seeds") as bar:
        for epoch in range(options.epochs):
            epochs = [loader.for_epoch(epoch) for loader in loaders]
            for batches in zip(*epochs, strict=True):
                if in_turn:
                    states = [
                        step(state, batch)[0] for state, batch in zip(states, batches, strict=True)
                    ]
                else:
                    stacked, _ = step(stacked, np.stack(batches))
            bar.update(1)
    if not in_turn:
        states = unstack(stacked, len(seeds))
    for trainer, seed_state in zip(trainers, states, strict=True):
        trainer.load_state(seed_state)
    skipped = [int(state.skipped) for state in states]
    return TrainedSeeds(trainers, time.perf_counter() - start, skipped, steps_per_epoch)


def seeds_in_turn(options: TrainOptions) -> bool:
    """Whether the seeds of `options` take the compiled step in turn rather than vmapped
    together: for the convolutional model on a CPU (see the module's docstring)."""
    return options.model == "conv" and jax.default_backend() == "cpu"
