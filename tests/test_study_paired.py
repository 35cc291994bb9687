"""Paired comparisons of a study's settings: the t-interval against hand-worked numbers, the
comparisons each built-in study makes, and how study.md shows them."""

import math

import pytest

from elbox.cli._study import STUDIES
from elbox.cli._study._paired import (
    Comparison,
    compare,
    comparisons,
    paired_difference,
    paired_rows,
    t_critical,
)
from elbox.cli._study._report import format_duration, markdown, paired_cell, summary
from elbox.cli._study._spec import Axis, StudySpec


@pytest.mark.parametrize(
    ("df", "expected"),
    # Student's t, two-sided 95% (tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
    [(1, 12.706205), (2, 4.302653), (3, 3.182446), (4, 2.776445), (9, 2.262157), (30, 2.042272)],
)
def test_t_critical_matches_the_tables(df: int, expected: float) -> None:
    assert t_critical(df) == pytest.approx(expected, abs=1e-6)


def test_t_critical_refuses_no_degrees_of_freedom() -> None:
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1; got 0"):
        t_critical(0)


def test_a_paired_difference_by_hand() -> None:
    # Differences 0.28, 0.28, 0.30: mean 0.28667, sd sqrt(0.000266667 / 2) = 0.011547,
    # standard error 0.011547 / sqrt(3) = 0.0066667, half-width 4.302653 * 0.0066667.
    difference = paired_difference([1.30, 1.28, 1.35], [1.02, 1.00, 1.05])
    assert difference.values == pytest.approx((0.28, 0.28, 0.30))
    assert difference.mean == pytest.approx(0.2866667, abs=1e-7)
    assert difference.sd == pytest.approx(0.0115470, abs=1e-7)
    assert difference.low == pytest.approx(0.2866667 - 0.0286844, abs=1e-6)
    assert difference.high == pytest.approx(0.2866667 + 0.0286844, abs=1e-6)
    assert difference.count == 3
    assert difference.resolved


def test_a_difference_whose_interval_holds_zero_is_not_resolved() -> None:
    # Differences 0.1, -0.2, 0.05: mean -0.016667, sd 0.160728, half-width 0.399269.
    difference = paired_difference([0.1, -0.2, 0.05], [0.0, 0.0, 0.0])
    assert difference.mean == pytest.approx(-0.0166667, abs=1e-7)
    assert difference.high - difference.mean == pytest.approx(0.399269, abs=1e-6)
    assert not difference.resolved


def test_one_seed_gives_no_interval_and_equal_differences_a_point() -> None:
    one = paired_difference([2.0], [1.0])
    assert one.mean == 1.0
    assert math.isnan(one.low)
    assert math.isnan(one.high)
    assert not one.resolved
    same = paired_difference([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert (same.low, same.high) == (2.0, 2.0)
    assert same.resolved
    with pytest.raises(ValueError, match="paired values must be as many as their reference"):
        paired_difference([1.0, 2.0], [1.0])


def test_the_collapse_study_compares_along_each_axis_with_the_other_held() -> None:
    spec = STUDIES["collapse"]
    found = comparisons(spec, spec.settings())
    annealing = [c for c in found if c.group == "kl_annealing"]
    free_bits = [c for c in found if c.group == "free_bits"]
    assert len(annealing) == 3 * 3  # linear, sigmoid, cyclical against none, per free bits
    assert len(free_bits) == 4 * 3  # per-sample and batch against off, batch against per-sample
    assert (
        Comparison(
            "kl_annealing",
            "kl_annealing=cyclical, free_bits=off",
            "kl_annealing=none, free_bits=off",
            "cyclical vs none (off)",
            ("free_bits",),
        )
        in annealing
    )
    assert (
        Comparison(
            "free_bits",
            "kl_annealing=none, free_bits=0.5 batch",
            "kl_annealing=none, free_bits=0.5 per-sample",
            "0.5 batch vs 0.5 per-sample (none)",
            ("kl_annealing",),
        )
        in free_bits
    )
    assert len(found) == 21


def test_the_beta_study_compares_the_other_objectives_with_every_beta() -> None:
    spec = STUDIES["beta"]
    found = comparisons(spec, spec.settings())
    assert [c.name for c in found[:4]] == [f"{b} vs 1.0" for b in ("2.0", "4.0", "8.0", "16.0")]
    extra = [c for c in found if c.group == "extra"]
    assert len(extra) == 2 * 5
    assert extra[-1].name == "beta-tc, beta=6 vs beta=16.0"


TOY = StudySpec(
    name="grid",
    description="A toy study.",
    base={},
    axes=(Axis.of_values("beta", [1.0, 4.0]),),
    measures="collapse",
    epochs=1,
    plot_metrics=("kl",),
)


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for label, kls in (("beta=1.0", [3.0, 3.2, 3.1]), ("beta=4.0", [1.0, 1.1, 1.05])):
        for seed, kl in enumerate(kls):
            rows.append({"setting": label, "beta": label[5:], "seed": seed, "kl": kl, "x": 1.0})
    rows[3]["x"], rows[4]["x"], rows[5]["x"] = 1.5, 0.0, 1.2  # differences 0.5, -1, 0.2
    return rows


def test_study_md_shows_the_paired_differences_bold_only_where_resolved() -> None:
    text = markdown(
        TOY, TOY.settings(), _rows(), ["kl"], command="elbox study grid", epochs=1, seconds=198.4
    )
    assert "made by `elbox study grid` in 3 min 18 s." in text
    assert "<!-- --8<-- [start:paired] -->" in text
    assert "the mean over the 3 seeds of (setting - reference)" in text
    # Differences -2, -2.1, -2.05: mean -2.05, sd 0.05, half-width 4.302653 * 0.05 / sqrt 3.
    assert "| 4.0 vs 1.0 | **-2.05** [-2.17, -1.93] |" in text
    rows = paired_rows(comparisons(TOY, TOY.settings()), _rows(), ["kl", "x"])
    assert [(row["metric"], row["resolved"]) for row in rows] == [("kl", True), ("x", False)]
    assert rows[0]["mean"] == pytest.approx(-2.05)
    assert rows[1]["low"] < 0 < rows[1]["high"]


def test_a_paired_cell_keeps_the_metric_s_digits() -> None:
    unresolved = paired_difference([0.5, 0.0, 1.2], [1.0, 1.0, 1.0])
    # Differences -0.5, -1, 0.2: mean -0.43333, sd 0.602771, half-width 1.497365.
    assert paired_cell("mig", unresolved) == "-0.433 [-1.931, +1.064]"
    # Differences 2, 3, 2: mean 2.3333, sd 0.57735, half-width 1.434218.
    assert paired_cell(
        "active_units", paired_difference([18.0, 19.0, 17.0], [16.0, 16.0, 15.0])
    ) == ("**+2.3** [+0.9, +3.8]")
    assert paired_cell("kl", paired_difference([1.0], [0.5])) == "+0.50"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45.2, "45 s"), (198.0, "3 min 18 s"), (807.4, "13 min 27 s"), (3900.0, "1 h 5 min")],
)
def test_durations_read_as_the_pages_quote_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_metric_some_seed_lacks_is_left_empty_and_paired_where_both_have_it() -> None:
    # NaN: the bound under a likelihood that is no distribution of the data.
    rows = [
        {"setting": "a", "seed": 0, "bound": 1.0},
        {"setting": "a", "seed": 1, "bound": 3.0},
        {"setting": "a", "seed": 2, "bound": math.nan},
        {"setting": "b", "seed": 0, "bound": 0.5},
        {"setting": "b", "seed": 1, "bound": 1.5},
        {"setting": "b", "seed": 2, "bound": 9.0},
    ]
    mean, spread = summary(rows[:3], "bound")
    assert math.isnan(mean)  # not a mean over fewer seeds
    assert math.isnan(spread)
    # Deviations from 11/3: -19/6, -13/6, 32/6; squares sum to 1554/36, over 2.
    mean, spread = summary(rows[3:], "bound")
    assert mean == pytest.approx(11 / 3)
    assert spread == pytest.approx(math.sqrt(777) / 6)
    comparison = Comparison("x", "a", "b", "a vs b")
    difference = compare(comparison, rows, "bound")
    assert difference is not None
    assert difference.values == (0.5, 1.5)  # seeds 0 and 1: seed 2 pairs with nothing
    assert compare(comparison, [r for r in rows if r["seed"] == 2], "bound") is None
