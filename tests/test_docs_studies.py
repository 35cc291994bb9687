"""The studies shown on "What the knobs do" are the files `elbox study` wrote.

The page includes sections of `docs/studies/*/study.md`; these tests re-render each
`study.md` and `paired.csv` from its `study.csv` and `study.json` with the study's own
report code, so no number in them can have been typed or edited by hand; check that the
study was run as the page says (3 seeds, the built-in settings, the recorded command);
and that what `study.json` records of each setting's data (examples, steps) is what the
code gives (the page quotes those numbers).
"""

import json
from pathlib import Path
from typing import Any

import pytest

from elbox.cli._processes import Processes
from elbox.cli._splits import batch_loader, load_splits
from elbox.cli._study._command import (
    PAIRED_FILE,
    SPEC_FILE,
    StudyPlan,
    plan_study,
    report_notes,
    same_plan,
)
from elbox.cli._study._measure import METRICS
from elbox.cli._study._paired import PAIRED_COLUMNS, comparisons, paired_rows
from elbox.cli._study._report import (
    CSV_FILE,
    MARKDOWN_FILE,
    PLOT_FILE,
    Row,
    markdown,
    paired_metrics,
    read_rows,
    write_rows,
)

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "docs" / "studies"
PAGE = ROOT / "docs" / "guide" / "knobs.md"


@pytest.mark.parametrize("name", ["collapse", "beta", "iwae"])
def test_the_committed_study_md_is_what_its_csv_renders_to(name: str, tmp_path: Path) -> None:
    folder = STUDIES / name
    saved = json.loads((folder / SPEC_FILE).read_text())
    command = saved.pop("command")
    run = saved.pop("run")
    assert command == f"elbox study {name} --seeds 3 --output docs/studies/{name}"
    plan = plan_study(
        name, seeds=len(saved["seeds"]), epochs=saved["epochs"], grid=[], output=folder
    )
    # The recorded study is the built-in one, with its default epochs and budget (and the
    # defaults of options elbox gained after it ran).
    assert same_plan(saved, plan)
    assert plan.epochs == plan.spec.epochs
    rows = _assert_the_report_renders_from_the_csv(folder, plan, command, run, tmp_path)
    assert len(rows) == 3 * len(plan.settings)
    assert (folder / PLOT_FILE).stat().st_size > 10_000


def _assert_the_report_renders_from_the_csv(
    folder: Path, plan: StudyPlan, command: str, run: dict[str, Any], tmp_path: Path
) -> list[Row]:
    """Check that the study's `study.md` and `paired.csv` are what its report code renders
    from its `study.csv`; the rows of that file."""
    rows = read_rows(folder / CSV_FILE)
    names = list(METRICS[plan.measures])
    expected = markdown(
        plan.spec,
        plan.settings,
        rows,
        names,
        command=command,
        epochs=plan.epochs,
        seconds=run["seconds"],
        notes=report_notes(plan, rows),
    )
    assert (folder / MARKDOWN_FILE).read_text() == expected
    paired = paired_rows(comparisons(plan.spec, plan.settings), rows, paired_metrics(names))
    write_rows(tmp_path / PAIRED_FILE, PAIRED_COLUMNS, paired)
    assert (folder / PAIRED_FILE).read_text() == (tmp_path / PAIRED_FILE).read_text()
    return rows


@pytest.mark.parametrize("name", ["collapse", "beta", "iwae"])
def test_the_recorded_data_of_each_setting_is_what_the_code_gives(name: str) -> None:
    folder = STUDIES / name
    saved = json.loads((folder / SPEC_FILE).read_text())
    plan = plan_study(
        name, seeds=len(saved["seeds"]), epochs=saved["epochs"], grid=[], output=folder
    )
    one = Processes(count=1, index=0, devices=1)
    for setting in plan.settings:
        options = plan.options[setting.label]
        splits = load_splits(options)
        steps = len(batch_loader(splits.train, options.batch_size, one, shuffle=True))
        recorded = saved["run"]["settings"][setting.label]
        assert {key: recorded[key] for key in recorded if key != "train_seconds"} == {
            "train_examples": len(splits.train),
            "validation_examples": len(splits.validation),
            "test_examples": len(splits.test),
            "steps_per_epoch": steps,
            "steps": steps * plan.epochs,
        }


def test_the_page_includes_the_study_tables_and_plots() -> None:
    page = PAGE.read_text()
    for name in ("collapse", "beta"):
        for section in ("table", "paired", "metrics"):
            assert f'--8<-- "studies/{name}/study.md:{section}"' in page
        assert f"../studies/{name}/{PLOT_FILE}" in page
        assert f"elbox study {name} --seeds 3 --output docs/studies/{name}" in page


def test_an_option_added_since_a_study_ran_matches_only_at_its_default() -> None:
    plan = plan_study("collapse", seeds=1, epochs=1, grid=[], output=STUDIES / "collapse")
    record = plan.record()
    older = {
        **record,
        "settings": {
            label: {name: value for name, value in options.items() if name != "num_samples"}
            for label, options in record["settings"].items()
        },
    }
    assert same_plan(older, plan)  # ran before --num-samples existed: at its default, 5
    other = {
        **record,
        "settings": {
            label: {**options, "num_samples": 50} for label, options in record["settings"].items()
        },
    }
    assert not same_plan(other, plan)  # a study of another K is another study
    changed = {**record, "epochs": 2}
    assert not same_plan(changed, plan)


# The runs of "Looking for beta's effect": the beta study with the page's options
# (epochs, budgets, data set).
BETA_VARIANTS: dict[str, tuple[int | None, list[str], str | None]] = {
    "beta-budget": (
        None,
        ["train=2000,test=1000", "vote_train=5000,vote_eval=2500,variance_points=10000"],
        None,
    ),
    "beta-long": (100, [], None),
    "beta-upright": (100, [], "shapes_grid_upright"),
}


@pytest.mark.parametrize("name", sorted(BETA_VARIANTS))
def test_the_beta_variants_are_the_pages_commands_and_render_from_their_csv(
    name: str, tmp_path: Path
) -> None:
    folder = STUDIES / name
    saved = json.loads((folder / SPEC_FILE).read_text())
    command = saved.pop("command")
    run = saved.pop("run")
    epochs, budget, dataset = BETA_VARIANTS[name]
    plan = plan_study(
        "beta", seeds=3, epochs=epochs, grid=[], output=folder, budget=budget, dataset=dataset
    )
    assert same_plan(saved, plan)
    # The command the study recorded is the page's, writing into docs/studies/.
    shown = command.replace(f"--output docs/studies/{name}", f"--output studies/{name}")
    assert " ".join(PAGE.read_text().replace("\\\n", " ").split()).count(shown) == 1
    _assert_the_report_renders_from_the_csv(folder, plan, command, run, tmp_path)
