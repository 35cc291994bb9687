"""The Python examples of a Markdown page: found, run in order, their output captured.

Shared by the tests and the docs build, so both read a page the same way:

- `tests/test_docs_examples.py` runs the examples of `README.md` and every page, and fails
  when one raises or prints another output than the committed one (below);
- `hooks.py` runs the examples of every page of the site while it is built, and shows
  what each one printed in a block under it: the output on the site is produced by the
  code above it, at every build, and never typed by hand.

An example is a fenced block whose language is `python` (or `py`). The blocks of one page
run in order, in one namespace, as a reader pasting them into one session would, in a
fresh temporary working directory, so files they write (checkpoints, logs) do not land in
the repository. A block that is deliberately not runnable is fenced as
```` ```python notest ```` and the page says why next to it.

Output is what a block writes to standard output and standard error, in the order it was
written, with trailing spaces and blank lines removed and the temporary working directory
shown as `.`.

What the examples of each page printed when the site was last checked is committed in
`snapshots/examples/` (`python docs/scripts/example_outputs.py` writes it), so that a
change to what an example prints shows in review, and the tests compare the examples'
output with it.
"""

import contextlib
import dataclasses
import io
import os
import re
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_SNAPSHOTS = ROOT / "docs" / "snapshots" / "examples"
RUNNABLE_LANGUAGES = frozenset({"python", "py"})
SKIP_MARKER = "notest"

# The opening line of a fenced block: its indentation, its fence and the info string.
OPENING = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$"
)

# How an output block opens: plain text, marked so that the site's stylesheet shows it as
# output (wrapped, without a copy button), and titled "Output".
OUTPUT_INFO = '{ .text .output .no-copy title="Output" }'


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int  # the line number (from 1) of the block's first code line
    end: int  # the line number (from 1) of its closing fence
    indent: str  # the indentation of its fence (inside an admonition, say)
    language: str
    words: tuple[str, ...]  # the rest of the info string, e.g. ("notest",)
    code: str

    @property
    def runs(self) -> bool:
        """Whether the block is a Python example to run."""
        return (
            self.language in RUNNABLE_LANGUAGES
            and SKIP_MARKER not in self.words
        )

    @property
    def where(self) -> str:
        """`page:line`, with the page relative to the repository where it is in it."""
        page = (
            self.page.relative_to(ROOT)
            if self.page.is_relative_to(ROOT)
            else self.page
        )
        return f"{page.as_posix()}:{self.line}"


def _info_words(info: str) -> tuple[str, tuple[str, ...]]:
    """The language and the other words of a fence's info string (`{.python .x}` too)."""
    info = info.strip().strip("{}").strip()
    words = [word.lstrip(".") for word in info.split()]
    if not words:
        return "", ()
    return words[0].lower(), tuple(words[1:])


def fenced_blocks_in(text: str, page: Path) -> Iterator[Block]:
    """The fenced code blocks of Markdown `text` (from `page`), dedented to their fence's
    indentation."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = OPENING.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language, words = _info_words(opening["info"])
        closing = re.compile(
            rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$"
        )
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines) and not closing.match(lines[index]):
            line = lines[index]
            body.append(
                line[len(indent) :]
                if line.startswith(indent)
                else line.lstrip()
            )
            index += 1
        if index == len(lines):
            raise ValueError(
                f"{page}:{start}: the code block opened here is never closed"
            )
        index += 1  # past the closing fence
        yield Block(
            page,
            start + 1,
            index,
            indent,
            language,
            words,
            "\n".join(body) + "\n",
        )


def fenced_blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of the Markdown file `page`."""
    return fenced_blocks_in(page.read_text(), page)


class _Output(io.StringIO):
    """Standard output and error of a block, as one stream; not a terminal."""

    def isatty(self) -> bool:
        return False


def clean_output(text: str, workdir: Path | None = None) -> str:
    """Output as the site shows it: no trailing spaces or blank lines, carriage-return
    progress redrawn as its last state, and `workdir` shown as `.`."""
    if workdir is not None:
        text = text.replace(f"{workdir}{os.sep}", "").replace(str(workdir), ".")
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_blocks(
    blocks: Sequence[Block], page: Path, *, capture: bool = False
) -> list[str]:
    """Run the runnable `blocks` of `page` in order in one fresh module namespace.

    Returns what each block that ran printed (with `capture`; `""` for every block
    otherwise). An exception is re-raised with a note naming the page and line of the
    failing example; tracebacks give the page's own line numbers.
    """
    name = "elbox_docs_" + re.sub(r"\W", "_", page.stem)
    module = types.ModuleType(name)
    module.__file__ = str(page)
    # Registered while it runs, so classes defined in examples (dataclasses, eqx.Modules)
    # find their module as they would in a script.
    sys.modules[name] = module
    outputs = []
    try:
        for block in blocks:
            if not block.runs:
                continue
            # Pad with blank lines so that tracebacks give the page's own line numbers.
            source = "\n" * (block.line - 1) + block.code
            code = compile(source, str(page), "exec")
            stream = _Output()
            try:
                # Both streams go into one, interleaved as they were written.
                with (
                    _redirected(stream) if capture else contextlib.nullcontext()
                ):
                    exec(code, module.__dict__)
            except BaseException as error:
                error.add_note(f"in the example at {block.where}")
                raise
            outputs.append(clean_output(stream.getvalue(), Path.cwd()))
    finally:
        del sys.modules[name]
    return outputs


@contextlib.contextmanager
def _redirected(stream: io.StringIO) -> Iterator[None]:
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        yield


def run_page(page: Path, *, capture: bool = False) -> list[str]:
    """Run the Python examples of the Markdown file `page` in the current directory; what
    each printed (see `run_blocks`)."""
    return run_blocks(list(fenced_blocks(page)), page, capture=capture)


@dataclasses.dataclass(frozen=True)
class PageOutput:
    """What the examples of a page printed, by the index of their block among the page's
    fenced blocks, or the traceback of the example that failed."""

    outputs: dict[int, str]
    error: str | None = None
    # How long the examples took (not part of what they printed).
    seconds: float = dataclasses.field(default=0.0, compare=False)


def jax_cache_dir() -> Path:
    """Where the docs build keeps JAX's compiled programs between builds."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "elbox" / "docs-jax-cache"


def prepare_worker() -> None:
    """Set up a worker process of the docs build, before it imports JAX.

    The pages describe runs on a CPU, and their printed numbers should not depend on
    whether the machine that builds the docs has a GPU. Compiling the examples' steps is
    most of their time, so compiled programs are kept in JAX's persistent cache: the next
    build (`nox -s docs docs_check` builds twice, `mkdocs serve` at every change) runs
    them without compiling again. The cache changes nothing in what runs. Variables set
    in the environment win over these defaults."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(jax_cache_dir()))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def page_output(path: str) -> PageOutput:
    """Run the examples of the Markdown file at `path` in a fresh temporary directory and
    collect their output. The docs build calls this in worker processes."""
    page = Path(path)
    blocks = list(fenced_blocks(page))
    runnable = [index for index, block in enumerate(blocks) if block.runs]
    started = time.perf_counter()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="elbox-docs-") as folder,
            _working_directory(Path(folder)),
        ):
            printed = run_blocks(blocks, page, capture=True)
    except BaseException as error:
        lines = traceback.format_exception(error)
        return PageOutput({}, "".join(lines), time.perf_counter() - started)
    return PageOutput(
        {
            index: text
            for index, text in zip(runnable, printed, strict=True)
            if text
        },
        seconds=time.perf_counter() - started,
    )


def output_block(output: str, indent: str = "") -> list[str]:
    """The lines of a fenced block that shows `output` (indented like its example)."""
    longest = max((len(run) for run in re.findall(r"`+", output)), default=0)
    fence = "`" * max(3, longest + 1)
    body = [f"{indent}{line}" if line else "" for line in output.splitlines()]
    return ["", f"{indent}{fence}{OUTPUT_INFO}", *body, f"{indent}{fence}"]


def with_outputs(text: str, page: Path, outputs: Mapping[int, str]) -> str:
    """Markdown `text` with an output block after each block whose index is in `outputs`."""
    lines = text.splitlines()
    blocks = list(fenced_blocks_in(text, page))
    unknown = set(outputs) - set(range(len(blocks)))
    if unknown:
        raise ValueError(f"{page}: no fenced blocks numbered {sorted(unknown)}")
    inserts = {
        blocks[index].end: output_block(output, blocks[index].indent)
        for index, output in outputs.items()
    }
    result: list[str] = []
    for number, line in enumerate(lines, start=1):
        result.append(line)
        result.extend(inserts.get(number, []))
    return "\n".join(result) + ("\n" if text.endswith("\n") else "")


# -- committed output -------------------------------------------------------------


def snapshot_path(page: Path) -> Path:
    """Where the committed output of `page` (in the repository) is kept."""
    relative = page.resolve().relative_to(ROOT)
    if relative.parts[0] == "docs":
        relative = relative.relative_to("docs")
    return OUTPUT_SNAPSHOTS / relative.with_suffix(".txt")


# The line that opens the output of one example: its number among the page's
# examples (from 1), and the first line of its code, to find it by.
_SNAPSHOT_HEADER = re.compile(r"^==> example (\d+): .* <==$", re.MULTILINE)


def snapshot_text(blocks: Sequence[Block], printed: Sequence[str]) -> str:
    """The committed form of what the runnable `blocks` of a page `printed` (one
    string per block, as `run_blocks` returns them): a header line per example that
    printed something, then its output."""
    runnable = [block for block in blocks if block.runs]
    parts = []
    for number, (block, text) in enumerate(
        zip(runnable, printed, strict=True), start=1
    ):
        if text:
            first = block.code.strip().splitlines()[0][:60]
            parts.append(f"==> example {number}: {first} <==\n{text}\n")
    return "".join(parts)


def read_snapshot(text: str) -> dict[int, str]:
    """The outputs of a committed snapshot, by the example's number (from 1)."""
    found = list(_SNAPSHOT_HEADER.finditer(text))
    ends = [match.start() for match in found[1:]] + [len(text)]
    return {
        int(match[1]): text[match.end() + 1 : end].rstrip("\n")
        for match, end in zip(found, ends, strict=True)
    }
