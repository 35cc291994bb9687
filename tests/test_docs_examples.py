"""Every Python example in the docs and the README runs.

The collector reads each Markdown page (`README.md` and `docs/**/*.md`) and takes every
fenced block whose language is `python` (or `py`). The blocks of one page run in order, in
one namespace, as a reader pasting them into one session would, in a fresh temporary
working directory, so files they write (checkpoints, logs) don't land in the repository.
Tracebacks point at the page and line of the failing code.

A block that is deliberately not runnable is fenced as ```` ```python notest ```` and the
page says why next to it; such blocks are rare, and this file counts them.
"""

import dataclasses
import importlib.util
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNNABLE_LANGUAGES = {"python", "py"}
SKIP_MARKER = "notest"
# At most this many blocks may be marked not to run, over all pages.
MAX_NOT_RUN = 3

OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int  # the line number (from 1) of the block's first code line
    language: str
    words: tuple[str, ...]  # the rest of the info string, e.g. ("notest",)
    code: str

    @property
    def runs(self) -> bool:
        return self.language in RUNNABLE_LANGUAGES and SKIP_MARKER not in self.words

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def _info_words(info: str) -> tuple[str, tuple[str, ...]]:
    """The language and the other words of a fence's info string (`{.python .x}` too)."""
    info = info.strip().strip("{}").strip()
    words = [word.lstrip(".") for word in info.split()]
    if not words:
        return "", ()
    return words[0].lower(), tuple(words[1:])


def fenced_blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a Markdown page, dedented to their fence's indentation."""
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = OPENING.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language, words = _info_words(opening["info"])
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines) and not closing.match(lines[index]):
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        if index == len(lines):
            raise ValueError(f"{page}:{start}: the code block opened here is never closed")
        index += 1  # past the closing fence
        yield Block(page, start + 1, language, words, "\n".join(body) + "\n")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def runnable_pages() -> list[Path]:
    return [page for page in pages() if any(block.runs for block in fenced_blocks(page))]


def run_page(page: Path) -> int:
    """Run the page's Python blocks in order in one fresh module; the number run."""
    name = "elbox_docs_" + re.sub(r"\W", "_", page.stem)
    module = types.ModuleType(name)
    module.__file__ = str(page)
    # Registered while it runs, so classes defined in examples (dataclasses, eqx.Modules)
    # find their module as they would in a script.
    sys.modules[name] = module
    count = 0
    try:
        for block in fenced_blocks(page):
            if not block.runs:
                continue
            # Pad with blank lines so that tracebacks give the page's own line numbers.
            source = "\n" * (block.line - 1) + block.code
            code = compile(source, str(page), "exec")
            try:
                exec(code, module.__dict__)
            except BaseException as error:
                error.add_note(f"in the example at {block.where}")
                raise
            count += 1
    finally:
        del sys.modules[name]
    return count


@pytest.mark.parametrize(
    "page", runnable_pages(), ids=lambda page: str(page.relative_to(ROOT).as_posix())
)
def test_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_page(page) > 0


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
