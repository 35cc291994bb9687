"""The run's figures: training curves, KL per dimension, reconstructions, samples, traversals."""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed

import matplotlib.pyplot as plt  # after choosing the backend
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._atomic import atomic_path

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

PLOT_NAMES = ("training_curves", "kl_per_dimension", "reconstructions", "samples", "traversals")


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=110, bbox_inches="tight", format=path.suffix[1:])
    finally:
        plt.close(figure)
    return path


def _smooth(values: FloatArray, window: int) -> FloatArray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


# The beta-TC objective's parts of the KL, with their labels.
KL_PARTS = (
    ("mutual_info", "mutual information"),
    ("total_correlation", "total correlation"),
    ("dimension_kl", "dimension-wise KL"),
)


def _train_line(
    axis: Axes, step: FloatArray, values: FloatArray, window: int, **style: Any
) -> None:
    """A faint line of the raw values under a smoothed one."""
    color = style.pop("color", "tab:blue")
    axis.plot(step, values, color=color, alpha=0.25, linewidth=0.8)
    smoothed = _smooth(values, window)
    axis.plot(step[len(step) - len(smoothed) :], smoothed, color=color, **style)


def plot_training_curves(
    steps: Mapping[str, Sequence[float]],
    epochs: Sequence[Mapping[str, Any]],
    path: Path,
    *,
    restarts: Sequence[float] = (),
) -> Path:
    """Loss, reconstruction, KL and KL weight against the step; validation per epoch.

    For the capacity objective the KL is drawn with its target `C`, and the last panel is
    the gap `|KL - C|` that `gamma` weights; for beta-TC a third row shows the KL's parts.
    `restarts` are the steps at which a cyclical KL weight starts a new cycle at 0: the
    annealed validation loss of an epoch ending there has no KL term, and is marked so.
    """
    step = np.asarray(steps["step"], dtype=np.float64)
    window = max(1, len(step) // 100)
    capacity = "capacity" in steps
    decomposed = all(name in steps for name, _ in KL_PARTS)
    rows = 3 if decomposed else 2
    figure, axes = plt.subplots(rows, 2, figsize=(10, 3.25 * rows), sharex=True)
    # Free bits belong to the ELBO; the other objectives report the plain KL.
    kl_title = "KL" if capacity or decomposed else "KL (after free bits)"
    weight_panel: tuple[Axes, str, str, str | None] = (
        (axes[1, 1], "capacity", "|KL - C|, the gap gamma weights", None)
        if capacity
        else (
            axes[1, 1],
            "kl_weight",
            "TC weight (beta x annealing)" if decomposed else "KL weight (beta x annealing)",
            None,
        )
    )
    panels: list[tuple[Axes, str, str, str | None]] = [
        (axes[0, 0], "loss", "annealed loss", "val_loss"),
        (axes[0, 1], "recon_loss", "reconstruction loss", "val_recon_loss"),
        (axes[1, 0], "kl_loss", kl_title, "val_kl_loss"),
        weight_panel,
    ]
    if decomposed:
        panels.append(
            (axes[2, 1], "total_correlation", "total correlation", "val_total_correlation")
        )
    epoch_step = np.asarray([e["step"] for e in epochs], dtype=np.float64)
    for axis, name, title, val_name in panels:
        values = np.asarray(steps[name], dtype=np.float64)
        if name == "capacity":
            gap = np.abs(np.asarray(steps["kl_loss"], dtype=np.float64) - values)
            _train_line(axis, step, gap, window, color="tab:purple")
        elif name == "kl_weight":
            axis.plot(step, values, color="tab:purple")
        else:
            _train_line(axis, step, values, window, label="train")
        if name == "kl_loss" and capacity:
            capacity_values = np.asarray(steps["capacity"], dtype=np.float64)
            axis.plot(step, capacity_values, "--", color="tab:purple", label="capacity C")
            axis.legend(loc="upper right", fontsize=8)
        if val_name is not None and any(val_name in e for e in epochs):
            val = [e.get(val_name, math.nan) for e in epochs]
            axis.plot(epoch_step, val, "o-", color="tab:orange", markersize=2.5, label="validation")
            if name == "loss":
                _mark_restarts(axis, epoch_step, val, restarts)
            axis.legend(loc="upper right", fontsize=8)
        if name == "loss" and any("val_neg_elbo" in e for e in epochs):
            neg_elbo = [e.get("val_neg_elbo", math.nan) for e in epochs]
            axis.plot(epoch_step, neg_elbo, "-", color="tab:green", label="validation -ELBO")
            axis.legend(loc="upper right", fontsize=8)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    if decomposed:
        axis = axes[2, 0]
        for (name, label), color in zip(
            KL_PARTS, ("tab:blue", "tab:red", "tab:green"), strict=True
        ):
            values = np.asarray(steps[name], dtype=np.float64)
            _train_line(axis, step, values, window, color=color, label=label)
        axis.legend(loc="upper right", fontsize=8)
        axis.set_title("the KL's parts (sampled, train)")
        axis.grid(alpha=0.3)
    for axis in axes[-1]:
        axis.set_xlabel("step")
    figure.suptitle("Training curves")
    return _save(figure, path)


def _mark_restarts(
    axis: Axes, epoch_step: FloatArray, values: Sequence[float], restarts: Sequence[float]
) -> None:
    """Ring the validation points taken where the KL weight restarted at 0."""
    marked = [(x, y) for x, y in zip(epoch_step, values, strict=True) if x in set(restarts)]
    if not marked:
        return
    xs, ys = zip(*marked, strict=True)
    axis.plot(
        xs,
        ys,
        "o",
        markersize=7,
        markerfacecolor="none",
        color="tab:red",
        label="KL weight restarted at 0:\nno KL term in this point",
    )


def plot_kl_per_dimension(
    kl_per_dimension: FloatArray, mean_variance: FloatArray, threshold: float, path: Path
) -> Path:
    """The mean KL of each latent dimension, active dimensions highlighted."""
    active = mean_variance > threshold
    dims = np.arange(len(kl_per_dimension))
    figure, (kl_axis, var_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = np.where(active, "tab:blue", "tab:gray")
    kl_axis.bar(dims, kl_per_dimension, color=colors)
    kl_axis.set_xlabel("latent dimension")
    kl_axis.set_ylabel("mean KL (nats)")
    kl_axis.set_title(f"KL per dimension ({int(active.sum())} of {len(dims)} active)")
    var_axis.bar(dims, mean_variance, color=colors)
    var_axis.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"{threshold}")
    var_axis.set_yscale("log")
    var_axis.set_xlabel("latent dimension")
    var_axis.set_title("variance of the posterior mean over the test set")
    var_axis.legend(fontsize=8)
    for axis in (kl_axis, var_axis):
        axis.set_xticks(dims)
        axis.grid(alpha=0.3, axis="y")
    return _save(figure, path)


GAP = 1
"""Pixels of background between the tiles of an image grid."""


def _mosaic(images: FloatArray) -> FloatArray:
    """A grid of images, (rows, columns, H, W) grey or (rows, columns, H, W, 3), as one
    image with `GAP` pixels of white between the tiles.

    One `imshow` of the whole grid rather than an axis per tile: a figure of 64 axes
    costs matplotlib seconds to lay out and save, one image milliseconds.
    """
    rows, columns, height, width = images.shape[:4]
    channels = images.shape[4:]
    tall, wide = rows * (height + GAP) - GAP, columns * (width + GAP) - GAP
    mosaic = np.ones((tall, wide, *channels), dtype=np.float64)
    for row in range(rows):
        for column in range(columns):
            top, left = row * (height + GAP), column * (width + GAP)
            mosaic[top : top + height, left : left + width] = images[row, column]
    return mosaic


def _image_grid(
    axis: Axes,
    images: FloatArray,
    *,
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
) -> None:
    """Draw a (rows, columns, ...) grid of images in [0, 1] on one axis; rows and columns
    may be labelled at their centres."""
    height, width = images.shape[2:4]
    axis.imshow(_mosaic(images), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axis.set_yticks(
        [row * (height + GAP) + (height - 1) / 2 for row in range(len(row_labels))],
        list(row_labels),
    )
    axis.set_xticks(
        [column * (width + GAP) + (width - 1) / 2 for column in range(len(column_labels))],
        list(column_labels),
    )
    axis.tick_params(length=0)
    for spine in axis.spines.values():
        spine.set_visible(False)


def plot_reconstructions(inputs: FloatArray, outputs: FloatArray, path: Path) -> Path:
    """Inputs (top row) above their reconstructions (bottom row)."""
    count = len(inputs)
    figure, axis = plt.subplots(figsize=(1.1 * count, 2.5))
    _image_grid(axis, np.stack([inputs, outputs]), row_labels=("input", "reconstruction"))
    axis.set_title("Reconstructions of test examples")
    return _save(figure, path)


def plot_samples(images: FloatArray, path: Path) -> Path:
    """Decoded samples from the prior, in a square grid."""
    side = math.isqrt(len(images))
    figure, axis = plt.subplots(figsize=(0.9 * side, 0.9 * side))
    grid = images[: side * side].reshape(side, side, *images.shape[1:])
    _image_grid(axis, grid)
    axis.set_title("Samples from the prior")
    return _save(figure, path)


def plot_traversals(
    images: FloatArray, dimensions: Sequence[int], values: FloatArray, path: Path
) -> Path:
    """Rows: one latent dimension varied over `values`, the others held fixed."""
    rows, columns = len(dimensions), len(values)
    figure, axis = plt.subplots(figsize=(0.9 * columns, 0.95 * rows + 0.5))
    _image_grid(
        axis,
        images,
        row_labels=[f"z{dimension}" for dimension in dimensions],
        column_labels=[f"{value:+.1f}" for value in values],
    )
    axis.set_title("Latent traversals of the most active dimensions")
    return _save(figure, path)
