"""The data sets with ground-truth factors, on which `elbox eval` and the studies compute
the disentanglement scores: the shapes factor grids (drawn on demand) and dSprites."""

from typing import Final

from .. import data as datasets
from ._grid_splits import GRID_DATASETS, grid_splits
from ._options import TrainOptions
from ._standard_sets import download_setting

GROUND_TRUTH_DATASETS: Final = (*GRID_DATASETS, "dsprites")
"""The `--dataset` names with ground-truth factors."""


def has_factors(options: TrainOptions) -> bool:
    """Whether the run's data has ground-truth factors."""
    return options.data is None and options.dataset in GROUND_TRUTH_DATASETS


def ground_truth_data(options: TrainOptions) -> datasets.FactorSubset | datasets.DSprites:
    """What the scores of a run on `--dataset` draw from: for a shapes factor grid, its
    held-out codes, which draw no image the run trained, validated or tested on (see
    `_grid_splits`); for dsprites, the whole data set, as disentanglement_lib scores it
    (its published protocol trains on every image), so that the scores compare with
    published ones."""
    if options.dataset == "dsprites":
        return datasets.dsprites(options.data_dir, download=download_setting(options))
    return grid_splits(options.dataset).scoring
