"""`elbox plot RUN`: a run's plots, from its metrics log and its best checkpoint."""

import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from ..training._image_panels import decoder_mean, to_display
from ._analysis import ACTIVE_THRESHOLD, analyse
from ._load_run import DataPlace, LoadedRun, load_run
from ._plots import (
    plot_kl_per_dimension,
    plot_reconstructions,
    plot_samples,
    plot_training_curves,
    plot_traversals,
)
from ._run_folder import holding
from ._splits import Splits


def _images(values: Any, splits: Splits, loss_type: object) -> npt.NDArray[Any]:
    """Examples or decoder outputs as images in [0, 1]: (n, H, W) grey or (n, H, W, 3)."""
    images = to_display(decoder_mean(values, loss_type), splits.image_shape, splits.value_range)
    return images if images.shape[-1] == 3 else images[..., 0]


def plot_run(folder: Path, *, place: DataPlace | None = None) -> list[Path]:
    """(Re)draw the plots of the run in `folder` from its metrics and best checkpoint;
    `place` says where its standard data set is now."""
    with holding(folder):
        return plot(folder, load_run(folder, place=place))


def plot(folder: Path, loaded: LoadedRun) -> list[Path]:
    """Draw the plots of a loaded run into `folder / "plots"`; their paths."""
    options, splits, vae = loaded.options, loaded.splits, loaded.vae
    assert options.loss_type is not None  # resolved when the run started
    steps: dict[str, list[float]] = {}
    epochs: list[dict[str, Any]] = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.pop("kind") == "step":
            for name, value in record.items():
                steps.setdefault(name, []).append(math.nan if value is None else float(value))
        else:
            epochs.append(record)
    plots = folder / "plots"
    paths = [plot_training_curves(steps, epochs, plots / "training_curves.png")]
    analysis = analyse(
        vae, splits.test, loss_type=options.loss_type, num_samples=0, weights=loaded.weights
    )
    paths.append(
        plot_kl_per_dimension(
            analysis.kl_per_dimension,
            analysis.mean_variance,
            ACTIVE_THRESHOLD,
            plots / "kl_per_dimension.png",
        )
    )
    model, loss_type = loaded.model, options.loss_type
    inputs = splits.test[:12]
    mean, _ = model.encode(jnp.asarray(inputs))
    paths.append(
        plot_reconstructions(
            _images(inputs, splits, None),
            _images(model.decode(mean), splits, loss_type),
            plots / "reconstructions.png",
        )
    )
    z = jax.random.normal(jax.random.key(options.seed + 1), (64, options.latent))
    paths.append(plot_samples(_images(model.decode(z), splits, loss_type), plots / "samples.png"))
    order = np.argsort(-analysis.kl_per_dimension)[: min(6, options.latent)]
    values = np.linspace(-3.0, 3.0, 9)
    base = np.zeros(options.latent, np.float32)
    rows = []
    for dimension in order:
        codes = np.repeat(base[None, :], len(values), axis=0)
        codes[:, dimension] = values
        rows.append(_images(model.decode(jnp.asarray(codes)), splits, loss_type))
    paths.append(
        plot_traversals(np.stack(rows), [int(d) for d in order], values, plots / "traversals.png")
    )
    return paths
