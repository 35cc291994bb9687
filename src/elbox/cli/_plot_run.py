"""`elbox plot RUN`: a run's plots, from its metrics log and its best checkpoint."""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from .._config import VAETrainingConfig
from ..training import MetricsLogError, read_metrics_log
from ..training._image_panels import decoder_mean, to_display
from ._analysis import ACTIVE_THRESHOLD, Analysis, analyse
from ._errors import RunError
from ._likelihood import run_likelihood
from ._load_run import DataPlace, LoadedRun, load_run
from ._options import likelihood_name
from ._plots import (
    PLOT_NAMES,
    plot_kl_per_dimension,
    plot_reconstructions,
    plot_samples,
    plot_training_curves,
    plot_traversals,
)
from ._progress import progress
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


def weight_restarts(config: VAETrainingConfig, epochs: list[dict[str, Any]]) -> list[float]:
    """The steps of the epoch ends where a cyclical KL weight starts a new cycle.

    An epoch's validation uses the KL weight of the step after it, which is 0 where a
    cycle starts again: the annealed validation loss then drops to the reconstruction
    alone (the last epoch of the default run, whose last cycle ends with the run).
    """
    if config.kl_annealing != "cyclical":
        return []
    period = config.cyclical_period
    return [float(e["step"]) for e in epochs if int(e["step"]) % period == 0]


def plot(folder: Path, loaded: LoadedRun, *, analysis: Analysis | None = None) -> list[Path]:
    """Draw the plots of a loaded run into `folder / "plots"`; their paths. `analysis` is
    the run's test-split analysis where the caller has made it (`elbox train` just did):
    the KL per dimension is read from it rather than computed again."""
    steps: dict[str, list[float]] = {}
    epochs: list[dict[str, Any]] = []
    try:
        records = read_metrics_log(folder / "metrics.jsonl")
    except MetricsLogError as error:
        raise RunError(str(error)) from None
    except OSError as error:
        raise RunError(f"{folder / 'metrics.jsonl'} cannot be read: {error.strerror}") from None
    for record in records:
        if record.pop("kind") == "step":
            for name, value in record.items():
                steps.setdefault(name, []).append(math.nan if value is None else float(value))
        else:
            epochs.append(record)
    with progress(len(PLOT_NAMES), "drawing the plots") as bar:
        paths = _draw(folder, loaded, steps, epochs, bar.update, analysis)
    return paths


def _draw(  # the figures, `advance(1)` after each
    folder: Path,
    loaded: LoadedRun,
    steps: dict[str, list[float]],
    epochs: list[dict[str, Any]],
    advance: Callable[[int], object],
    analysis: Analysis | None,
) -> list[Path]:
    options, splits, vae = loaded.options, loaded.splits, loaded.vae
    likelihood = run_likelihood(options)
    plots = folder / "plots"
    restarts = weight_restarts(vae.config, epochs)
    paths = [plot_training_curves(steps, epochs, plots / "training_curves.png", restarts=restarts)]
    advance(1)
    if analysis is None:
        analysis = analyse(
            vae,
            splits.test,
            likelihood=likelihood,
            name=str(likelihood_name(options)),
            num_samples=0,
            weights=loaded.weights,
        )
    paths.append(
        plot_kl_per_dimension(
            analysis.kl_per_dimension,
            analysis.mean_variance,
            ACTIVE_THRESHOLD,
            plots / "kl_per_dimension.png",
        )
    )
    advance(1)
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
    advance(1)
    z = jax.random.normal(jax.random.key(options.seed + 1), (64, options.latent))
    paths.append(plot_samples(_images(model.decode(z), splits, likelihood), plots / "samples.png"))
    advance(1)
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
    advance(1)
    return paths
