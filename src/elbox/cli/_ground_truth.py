"""The data sets with ground-truth factors, on which `elbox eval` and the studies compute
the disentanglement scores: the shapes factor grid (drawn on demand) and dSprites."""

from typing import Final

from .. import data as datasets
from ._options import TrainOptions
from ._standard_sets import download_setting

GROUND_TRUTH_DATASETS: Final = ("shapes_grid", "dsprites")
"""The `--dataset` names with ground-truth factors."""

SHAPES_GRID_ROTATIONS: Final = 10


def shapes_grid() -> datasets.ShapesGrid:
    """The factor grid of `--dataset shapes_grid`: 10 rotations, so that the DCI score's
    gradient-boosted trees (one class per rotation) stay affordable."""
    return datasets.ShapesGrid(num_rotations=SHAPES_GRID_ROTATIONS)


def has_factors(options: TrainOptions) -> bool:
    """Whether the run's data has ground-truth factors."""
    return options.data is None and options.dataset in GROUND_TRUTH_DATASETS


def ground_truth_data(options: TrainOptions) -> datasets.ShapesGrid | datasets.DSprites:
    """The ground-truth data of the run's `--dataset` (shapes_grid or dsprites)."""
    if options.dataset == "dsprites":
        return datasets.dsprites(options.data_dir, download=download_setting(options))
    return shapes_grid()
