"""Run the examples of the README and of every page, and commit what they print.

    python docs/scripts/example_outputs.py [PAGE ...]

Writes `docs/snapshots/examples/<page>.txt` for each page with runnable examples (all of
them, or the pages given): what each example printed, as the site shows it under the
example. Run it after changing an example or what elbox prints, read the difference, and
commit it: `tests/test_docs_examples.py` compares the examples' output with these files.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DOCS))

import page_examples  # noqa: E402  (from docs/, put on the path above)


def pages() -> list[Path]:
    """The README and the pages of the site that have examples to run."""
    candidates = [DOCS.parent / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [
        page
        for page in candidates
        if any(block.runs for block in page_examples.fenced_blocks(page))
    ]


def write_snapshot(page: Path) -> Path:
    """Run the examples of `page` as the site does and write what they printed."""
    blocks = list(page_examples.fenced_blocks(page))
    result = page_examples.page_output(str(page))
    if result.error is not None:
        sys.exit(f"{page}: an example failed:\n{result.error}")
    runnable = [index for index, block in enumerate(blocks) if block.runs]
    printed = [result.outputs.get(index, "") for index in runnable]
    path = page_examples.snapshot_path(page)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page_examples.snapshot_text(blocks, printed))
    return path


def main() -> None:
    page_examples.prepare_worker()
    chosen = [Path(name).resolve() for name in sys.argv[1:]] or pages()
    for page in chosen:
        print(write_snapshot(page).relative_to(DOCS.parent))


if __name__ == "__main__":
    main()
