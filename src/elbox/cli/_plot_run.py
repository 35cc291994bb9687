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
from ._likelihood import run_likelihood
from ._load_run import DataPlace, LoadedRun, load_run
from ._options import likelihood_name
from ._plots import (
    plot_kl_per_dimension,
    plot_reconstructions,
    plot_samples,
    plot_training_curves,
    plot_traversals,
)
from ._run_folder import holding
from ._splits import Splits


def _images(values: Any, splits: Splits, likelihood: object) -> npt.NDArray[Any]:
    """Decoder outputs as images in [0, 1], the likelihood's means: (n, H, W) grey or
    (n, H, W, 3)."""
    images = to_display(decoder_mean(values, likelihood), splits.image_shape, splits.value_range)
    return images if images.shape[-1] == 3 else images[..., 0]


def plot_run(folder: Path, *, place: DataPlace | None = None) -> list[Path]:
    """(Re)draw the plots of the run in `folder` from its metrics and best checkpoint;
    `place` says where its standard data set is now."""
    with holding(folder):
        return plot(folder, load_run(folder, place=place))


def plot(folder: Path, loaded: LoadedRun) -> list[Path]:
    """Draw the plots of a loaded run into `folder / "plots"`; their paths."""
    options, splits, vae = loaded.options, loaded.splits, loaded.vae
    likelihood = run_likelihood(options)
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
    name = str(likelihood_name(options))
    analysis = analyse(
        vae, splits.test, likelihood=likelihood, name=name, num_samples=0, weights=loaded.weights
    )
    paths.append(
        plot_kl_per_dimension(
            analysis.kl_per_dimension,
            analysis.mean_variance,
            ACTIVE_THRESHOLD,
            plots / "kl_per_dimension.png",
        )
    )
    model = loaded.model
    inputs = splits.test[:12]
    mean, _ = model.encode(jnp.asarray(inputs))
    paths.append(
        plot_reconstructions(
            _images(inputs, splits, None),
            _images(model.decode(mean), splits, likelihood),
            plots / "reconstructions.png",
        )
    )
    z = jax.random.normal(jax.random.key(options.seed + 1), (64, options.latent))
    paths.append(plot_samples(_images(model.decode(z), splits, likelihood), plots / "samples.png"))
    order = np.argsort(-analysis.kl_per_dimension)[: min(6, options.latent)]
    values = np.linspace(-3.0, 3.0, 9)
    base = np.zeros(options.latent, np.float32)
    rows = []
    for dimension in order:
        codes = np.repeat(base[None, :], len(values), axis=0)
        codes[:, dimension] = values
        rows.append(_images(model.decode(jnp.asarray(codes)), splits, likelihood))
    paths.append(
        plot_traversals(np.stack(rows), [int(d) for d in order], values, plots / "traversals.png")
    )
    return paths
