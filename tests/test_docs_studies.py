"""The studies shown on "What the knobs do" are the files `elbox study` wrote.

The page includes sections of `docs/studies/*/study.md`; these tests re-render each
`study.md` from its `study.csv` and `study.json` with the study's own report code, so no
number on the page can have been typed or edited by hand, and check that the study was
run as the page says (3 seeds, the built-in settings, the recorded command).
"""

import json
from pathlib import Path

import pytest

from elbox.cli._study._command import SPEC_FILE, plan_study
from elbox.cli._study._measure import METRICS
from elbox.cli._study._report import CSV_FILE, MARKDOWN_FILE, PLOT_FILE, markdown, read_rows

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "docs" / "studies"
PAGE = ROOT / "docs" / "guide" / "knobs.md"


@pytest.mark.parametrize("name", ["collapse", "beta"])
def test_the_committed_study_md_is_what_its_csv_renders_to(name: str) -> None:
    folder = STUDIES / name
    saved = json.loads((folder / SPEC_FILE).read_text())
    command = saved.pop("command")
    assert command == f"elbox study {name} --seeds 3 --output docs/studies/{name}"
    plan = plan_study(
        name, seeds=len(saved["seeds"]), epochs=saved["epochs"], grid=[], output=folder
    )
    # The recorded study is the built-in one, with its default epochs.
    assert saved == plan.record()
    assert plan.epochs == plan.spec.epochs
    rows = read_rows(folder / CSV_FILE)
    assert len(rows) == 3 * len(plan.settings)
    names = list(METRICS[plan.measures])
    expected = markdown(plan.spec, plan.settings, rows, names, command=command, epochs=plan.epochs)
    assert (folder / MARKDOWN_FILE).read_text() == expected
    assert (folder / PLOT_FILE).stat().st_size > 10_000


def test_the_page_includes_the_study_tables_and_plots() -> None:
    page = PAGE.read_text()
    for name in ("collapse", "beta"):
        assert f'--8<-- "studies/{name}/study.md:table"' in page
        assert f"../studies/{name}/{PLOT_FILE}" in page
        assert f"elbox study {name} --seeds 3 --output docs/studies/{name}" in page
