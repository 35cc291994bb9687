"""History by hand-worked numbers: step columns padded with NaN, epoch means over the
applied steps, and errors that list what was recorded."""

import math

import numpy as np
import pytest

from elbox.training import History


def test_missing_values_are_nan_and_missing_metrics_name_the_recorded_ones() -> None:
    history = History()
    history.record_step(0, 0, {"loss": 2.0})
    history.record_step(1, 0, {"loss": 4.0, "kl": 1.0})  # kl appears late
    history.record_step(2, 0, {"kl": 3.0})  # loss is missing here
    np.testing.assert_array_equal(history.step_metric("kl"), [math.nan, 1.0, 3.0])
    np.testing.assert_array_equal(history.step_metric("loss"), [2.0, 4.0, math.nan])
    with pytest.raises(KeyError, match=r"no metric 'klw' was recorded; recorded metrics: \[") as e:
        history.step_metric("klw")
    assert "'epoch', 'kl', 'loss', 'step'" in str(e.value)

    history.record_epoch({"epoch": 0, "loss": 3.0})
    history.record_epoch({"epoch": 1, "val_loss": 2.5})
    assert history.epoch_metric("loss")[0] == 3.0
    assert math.isnan(history.epoch_metric("loss")[1])
    with pytest.raises(KeyError, match=r"no metric 'kl' was recorded; recorded metrics: \['epoch'"):
        history.epoch_metric("kl")


def test_epoch_means_leave_out_skipped_steps_and_count_them() -> None:
    history = History()
    for step, (loss, skipped) in enumerate([(1.0, 0.0), (100.0, 1.0), (3.0, 0.0)]):
        history.record_step(step, 0, {"loss": loss, "skipped": skipped})
    history.record_step(3, 1, {"loss": 8.0, "skipped": 1.0})
    assert history.epoch_means(0) == {"loss": 2.0, "skipped": 1}  # (1 + 3) / 2
    assert history.epoch_means(0, since=2) == {"loss": 3.0, "skipped": 0}
    # An epoch whose every step was skipped reports their mean, and counts them all.
    assert history.epoch_means(1) == {"loss": 8.0, "skipped": 1}
    assert history.epoch_means(2) == {}  # no step recorded
