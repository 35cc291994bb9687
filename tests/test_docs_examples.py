"""Every Python example in the docs and the README runs and prints what the page shows.

The examples are read and run by `docs/page_examples.py`, which the docs build uses too
(to show each example's output under it): every fenced block whose language is `python`
(or `py`), the blocks of one page in order, in one namespace, in a fresh temporary working
directory, in a process of its own as the docs build runs them. Tracebacks point at the
page and line of the failing code. What each example prints is compared with what the site
shows under it, as committed in `docs/snapshots/examples/` (numbers masked: the format and
the words, not the last digits).

A block that is deliberately not runnable is fenced as ```` ```python notest ```` and the
page says why next to it; such blocks are rare, and this file counts them.
"""

import importlib.util
import multiprocessing
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from page_examples import (
    OUTPUT_SNAPSHOTS,
    RUNNABLE_LANGUAGES,
    SKIP_MARKER,
    clean_output,
    fenced_blocks,
    fenced_blocks_in,
    output_block,
    page_output,
    prepare_worker,
    read_snapshot,
    run_page,
    snapshot_path,
    snapshot_text,
    with_outputs,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# At most this many blocks may be marked not to run, over all pages.
MAX_NOT_RUN = 3
# The longest code line that fits the site's content column at 1280 px without scrolling
# (`nox -s docs_check` measures it in a browser). Text blocks (output) wrap instead.
MAX_CODE_LINE = 80
WRAPPED_LANGUAGES = {"text", ""}


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def runnable_pages() -> list[Path]:
    return [page for page in pages() if any(block.runs for block in fenced_blocks(page))]


def comparable(output: str) -> list[str]:
    """The lines of an example's output as they can be compared between runs: numbers
    masked (training's last digits differ between machines, timings between runs), and
    without the progress lines a long epoch prints every few seconds (`epoch 1/3 step
    40 ...`), whose number depends on the machine's speed."""
    kept = [line for line in output.splitlines() if not PROGRESS_LINE.match(line)]
    return [NUMBER.sub("#", line) for line in kept]


NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")
PROGRESS_LINE = re.compile(r"^epoch \d+/\d+ step \d+ ")


@pytest.fixture(scope="session")
def site_worker() -> Iterator[ProcessPoolExecutor]:
    """A process that runs a page's examples as the docs build does (`docs/hooks.py`): in a
    fresh interpreter, without the import hook through which the tests check every
    function of elbox (a hook that would fail a shape mistake in another function than
    the one that fails it for a reader, and so print another message than the site)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=prepare_worker) as pool:
        yield pool


@pytest.mark.process  # the examples run as the site runs them, in a process of their own
@pytest.mark.parametrize(
    "page", runnable_pages(), ids=lambda page: str(page.relative_to(ROOT).as_posix())
)
def test_examples_run_and_print_what_the_page_shows(
    page: Path, site_worker: ProcessPoolExecutor
) -> None:
    result = site_worker.submit(page_output, str(page)).result(timeout=1800)
    assert result.error is None, result.error
    blocks = list(fenced_blocks(page))
    runnable = [index for index, block in enumerate(blocks) if block.runs]
    printed = [result.outputs.get(index, "") for index in runnable]
    snapshot = snapshot_path(page)
    assert snapshot.exists(), f"{page.name}'s output is not committed: {REGENERATE}"
    shown = read_snapshot(snapshot.read_text())
    got = read_snapshot(snapshot_text(blocks, printed))
    assert sorted(got) == sorted(shown), f"other examples print than before: {REGENERATE}"
    for number, output in got.items():
        where = blocks[runnable[number - 1]].where
        assert comparable(output) == comparable(shown[number]), (
            f"the example at {where} prints another output than "
            f"{snapshot.relative_to(ROOT)} shows: {REGENERATE}"
        )


REGENERATE = (
    "run `python docs/scripts/example_outputs.py PAGE`, check what it wrote in "
    "docs/snapshots/examples/ and commit it"
)


def test_every_committed_output_belongs_to_a_page() -> None:
    committed = set(OUTPUT_SNAPSHOTS.rglob("*.txt"))
    assert committed == {snapshot_path(page) for page in runnable_pages()}


def test_committed_output_reads_back(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1)\n```\n\n```python\nx = 2\n```\n\n```py\nprint(x)\n```\n")
    blocks = list(fenced_blocks(page))
    text = snapshot_text(blocks, ["1", "", "2\n\nthree"])
    assert text == "==> example 1: print(1) <==\n1\n==> example 3: print(x) <==\n2\n\nthree\n"
    assert read_snapshot(text) == {1: "1", 3: "2\n\nthree"}
    assert comparable("epoch 1/3 step 40 loss=2\nepoch 1/3: loss=2.5 (1.0 s)") == [
        "epoch #/#: loss=# (# s)"
    ]


def test_the_collector_finds_the_examples() -> None:
    blocks = [block for page in pages() for block in fenced_blocks(page)]
    readme = [block for block in blocks if block.page.name == "README.md" and block.runs]
    assert len(readme) >= 2
    guide = DOCS / "guide" / "vae-trainer.md"
    assert sum(block.runs for block in blocks if block.page == guide) >= 10
    not_run = [
        block.where for block in blocks if block.language in RUNNABLE_LANGUAGES and not block.runs
    ]
    assert len(not_run) <= MAX_NOT_RUN, (
        f"{len(not_run)} Python blocks are marked {SKIP_MARKER!r} ({not_run}); keep such "
        "blocks rare: make the example runnable instead"
    )


def test_code_lines_fit_the_content_column() -> None:
    too_long = [
        f"{block.page.relative_to(ROOT)}:{block.line + number} ({len(line)} characters)"
        for page in sorted(DOCS.rglob("*.md"))
        for block in fenced_blocks(page)
        if block.language not in WRAPPED_LANGUAGES
        for number, line in enumerate(block.code.splitlines())
        if len(line) > MAX_CODE_LINE
    ]
    assert not too_long, (
        f"code lines longer than {MAX_CODE_LINE} characters run off the edge of the site's "
        "content column; shorten them:\n" + "\n".join(too_long)
    )


def test_fences_are_read(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "```python\nx = 1\n```\n\n"
        "!!! note\n\n    ```python\n    y = x + 1\n    ```\n\n"
        "````markdown\n```python\nnot = code\n```\n````\n\n"
        "```python notest\nraise SystemExit\n```\n\n"
        "```bash\nexit 1\n```\n"
    )
    blocks = list(fenced_blocks(page))
    assert [(b.language, b.words, b.runs, b.line) for b in blocks] == [
        ("python", (), True, 4),
        ("python", (), True, 10),
        ("markdown", (), False, 14),
        ("python", ("notest",), False, 20),
        ("bash", (), False, 24),
    ]
    assert blocks[1].code == "y = x + 1\n"
    assert blocks[2].code == "```python\nnot = code\n```\n"


def test_failures_name_the_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text("Text\n\n```python\nvalue = 1\n```\n\n```python\nassert value == 2\n```\n")
    with pytest.raises(AssertionError) as raised:
        run_page(page)
    assert raised.traceback[-1].lineno + 1 == 8  # pytest counts lines from 0
    assert any("broken.md:8" in note for note in getattr(raised.value, "__notes__", []))


def test_output_is_captured_per_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport sys\nprint('out')\nprint('err', file=sys.stderr)\nprint(2)\n```\n\n"
        "```python\nvalue = 3\n```\n\n"
        "```python notest\nprint('never')\n```\n\n"
        "```python\nprint(value, '  ')\nprint()\n```\n"
    )
    result = page_output(str(page))
    assert result.error is None
    # Blocks are numbered among all fenced blocks; silent and skipped blocks have none.
    assert result.outputs == {0: "out\nerr\n2", 3: "3"}


def test_output_hides_the_working_directory_and_redrawn_progress(tmp_path: Path) -> None:
    raw = f"  \nsaved {tmp_path}/run/a.json\n10%\r50%\r100% done   \nin {tmp_path}\n\n"
    assert clean_output(raw, tmp_path) == "saved run/a.json\n100% done\nin ."


def test_files_written_by_examples_stay_out_of_the_working_directory(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nfrom pathlib import Path\nPath('made.txt').write_text('x')\n```\n")
    assert page_output(str(page)) == page_output(str(page))
    assert not (tmp_path / "made.txt").exists()
    assert not (Path.cwd() / "made.txt").exists()


def test_a_failing_example_is_reported_with_its_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint('fine')\n```\n\n```python\n1 / 0\n```\n")
    result = page_output(str(page))
    assert result.outputs == {}
    assert result.error is not None
    assert "ZeroDivisionError" in result.error
    assert f"{page}:6" in result.error  # the note names the page and the line


def test_outputs_are_inserted_under_their_blocks(tmp_path: Path) -> None:
    text = (
        "# Page\n\n```python\nprint(1)\n```\n\nText.\n\n"
        "!!! note\n\n    ```python\n    print('a ``` b')\n    ```\n"
    )
    page = tmp_path / "page.md"
    shown = with_outputs(text, page, {0: "1", 1: "a ``` b\n\nc"})
    assert shown == (
        "# Page\n\n```python\nprint(1)\n```\n\n"
        '```{ .text .output .no-copy title="Output" }\n1\n```\n\nText.\n\n'
        "!!! note\n\n    ```python\n    print('a ``` b')\n    ```\n\n"
        '    ````{ .text .output .no-copy title="Output" }\n    a ``` b\n\n    c\n    ````\n'
    )
    # The page with its outputs reads as the same examples, each followed by its output.
    blocks = list(fenced_blocks_in(shown, page))
    assert [block.language for block in blocks] == ["python", "text", "python", "text"]
    assert blocks[3].code == "a ``` b\n\nc\n"
    assert output_block("x")[1] == '```{ .text .output .no-copy title="Output" }'
    with pytest.raises(ValueError, match="no fenced blocks numbered"):
        with_outputs(text, page, {5: "x"})


def test_the_schedules_figure_is_drawn() -> None:
    # The docs build draws this figure (docs/hooks.py); check the script here, where the
    # suite runs without mkdocs.
    path = DOCS / "scripts" / "plot_schedules.py"
    spec = importlib.util.spec_from_file_location("plot_schedules", path)
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    curves = script.schedule_curves(steps=20_000)
    assert set(curves) == {"none", "linear", "sigmoid", "cyclical"}
    assert all(curve.shape == (20_001,) for curve in curves.values())
    assert curves["none"][[0, 20_000]].tolist() == [1.0, 1.0]
    assert curves["linear"][[0, 5_000, 10_000, 20_000]].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert abs(curves["sigmoid"][5_000] - 0.5) < 1e-6
    assert curves["cyclical"][[0, 2_500, 5_000, 9_999, 10_000]].tolist() == [
        0.0,
        0.5,
        1.0,
        1.0,
        0.0,
    ]
    assert script.render_png().startswith(b"\x89PNG\r\n\x1a\n")
