"""MkDocs hooks of the elbox site (configured under `hooks:` in mkdocs.yml).

- The Python examples of every page run while the site is built, and each example that
  prints shows its output in a block under it (`page_examples.py` finds and runs them,
  exactly as `tests/test_docs_examples.py` does). The pages run in worker processes, one
  page per worker at a time, while the build renders the API reference; a page's Markdown
  waits for its own examples only. An example that raises fails the build, with the page
  and line in the traceback.
- `on_files` adds the figures that scripts in `docs/scripts/` draw, so they are generated
  by every build from the code they describe and never committed.
- `on_post_page` checks that the API reference shows only public names: no link or hover
  text with a private module path (`elbox._custom_types.StepLike`), no reference to an
  elbox name that no page documents, no private name (`_Item`) in a signature. Each is a
  warning, which fails the strict build: make the name public and document it (the Types
  page holds the aliases), or keep it out of public signatures.
"""

import importlib.util
import logging
import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

# MkDocs puts docs/ on the path while it imports this file.
import api_names
import page_examples
import page_numbers

DOCS = Path(__file__).resolve().parent
SCHEDULES_SCRIPT = DOCS / "scripts" / "plot_schedules.py"
SCHEDULES_FIGURE = "images/kl_schedules.png"

log = logging.getLogger("mkdocs.hooks.elbox")

# `mkdocs serve` calls the hooks on every rebuild: draw the figure again only when the
# script has changed.
_cache: dict[str, tuple[float, bytes]] = {}


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"elbox_docs_{path.stem}", path
    )
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schedules_png() -> bytes:
    stamp = SCHEDULES_SCRIPT.stat().st_mtime
    cached = _cache.get(SCHEDULES_FIGURE)
    if cached is None or cached[0] != stamp:
        png: bytes = _load(SCHEDULES_SCRIPT).render_png()
        _cache[SCHEDULES_FIGURE] = (stamp, png)
        log.info(
            "drew %s with %s",
            SCHEDULES_FIGURE,
            SCHEDULES_SCRIPT.relative_to(DOCS.parent),
        )
    return _cache[SCHEDULES_FIGURE][1]


# -- the examples' output -------------------------------------------------------------

# The docs are built on small machines: one worker per core, at most two (each runs JAX,
# which uses several threads of its own).
EXAMPLE_WORKERS = max(1, min(2, os.cpu_count() or 1))

_examples: dict[str, "Future[page_examples.PageOutput]"] = {}
_pool: list[ProcessPoolExecutor] = []


def _start_examples(files: Files) -> None:
    """Start running the examples of every page that has some."""
    _stop_examples()
    pages = [
        file
        for file in files.documentation_pages()
        if file.abs_src_path is not None
        and any(
            block.runs
            for block in page_examples.fenced_blocks(Path(file.abs_src_path))
        )
    ]
    if not pages:
        return
    # The workers import `page_examples` by name, with the path of this process.
    if str(DOCS) not in sys.path:
        sys.path.insert(0, str(DOCS))
    pool = ProcessPoolExecutor(
        max_workers=EXAMPLE_WORKERS,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=page_examples.prepare_worker,
    )
    _pool.append(pool)
    # The longest pages first (by the length of their examples), so that the workers
    # finish at about the same time.
    pages.sort(key=lambda file: -_example_size(Path(str(file.abs_src_path))))
    for file in pages:
        _examples[file.src_uri] = pool.submit(
            page_examples.page_output, str(file.abs_src_path)
        )
    log.info(
        "running the examples of %d pages in %d processes",
        len(pages),
        EXAMPLE_WORKERS,
    )


def _example_size(path: Path) -> int:
    return sum(
        len(block.code)
        for block in page_examples.fenced_blocks(path)
        if block.runs
    )


def _stop_examples() -> None:
    while _pool:
        _pool.pop().shutdown(wait=True, cancel_futures=True)
    _examples.clear()


def on_page_markdown(
    markdown: str, page: Page, config: MkDocsConfig, files: Files
) -> str:
    """Show the output of each of the page's examples under it, and put in the numbers
    its prose reads from files (`page_numbers.py`)."""
    future = _examples.pop(page.file.src_uri, None)
    if future is not None and page.file.abs_src_path is not None:
        result = future.result()
        if result.error is not None:
            raise PluginError(
                f"an example of {page.file.src_uri} failed:\n{result.error}"
            )
        log.info(
            "ran the examples of %s in %.1f s",
            page.file.src_uri,
            result.seconds,
        )
        markdown = page_examples.with_outputs(
            markdown, Path(page.file.abs_src_path), result.outputs
        )
    page_numbers.forget()  # `mkdocs serve`: the files may have changed
    try:
        return page_numbers.with_numbers(markdown, page.file.src_uri)
    except page_numbers.NumberError as error:
        raise PluginError(str(error)) from None


def on_post_build(config: MkDocsConfig) -> None:
    _stop_examples()


def on_build_error(error: Exception) -> None:
    _stop_examples()


# -- generated figures -------------------------------------------------------------------


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Start the examples; add the generated figures to the site's files, as if they were
    in `docs/`."""
    _start_examples(files)
    drawn = File.generated(config, SCHEDULES_FIGURE, content=_schedules_png())
    stale = files.get_file_from_path(SCHEDULES_FIGURE)
    # A copy written into docs/ by running the script by hand gives way.
    if stale is not None:
        files.remove(stale)
    files.append(drawn)
    return files


# -- only public names in the API reference -----------------------------------------


def on_page_content(
    html: str, page: Page, config: MkDocsConfig, files: Files
) -> str:
    """Point cross-references at public paths (see `api_names.public_identifier`)."""
    return api_names.with_public_identifiers(html)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """Warn (and so fail the strict build) when an API page shows a private name."""
    if page.file.src_uri.startswith("api/") and page.content is not None:
        for problem in api_names.private_names(page.content):
            log.warning("%s shows %s", page.file.src_uri, problem)
    return output
