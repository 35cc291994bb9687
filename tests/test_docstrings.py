"""Every example in elbox's docstrings runs and prints what it shows."""

import doctest
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import elbox


def _modules() -> list[ModuleType]:
    names = [elbox.__name__] + [
        info.name for info in pkgutil.walk_packages(elbox.__path__, prefix="elbox.")
    ]
    return [importlib.import_module(name) for name in sorted(names)]


FINDER = doctest.DocTestFinder(exclude_empty=True)
MODULES = _modules()
# The modules with at least one example in their docstrings (a module's examples are those
# of the objects it defines, so a re-exported function's example counts once).
WITH_EXAMPLES = [
    module
    for module in MODULES
    if any(test.examples for test in FINDER.find(module, module.__name__))
]


def test_every_module_is_collected() -> None:
    package = Path(elbox.__file__).parent
    files = sorted(package.rglob("*.py"))
    assert len(MODULES) == len(files)  # each file of the package is one module
    # The examples are collected from exactly the modules whose source shows one.
    shown = {module.__name__ for module in MODULES if ">>> " in inspect.getsource(module)}
    assert {module.__name__ for module in WITH_EXAMPLES} == shown
    assert {"elbox.models.nnx", "elbox.data"} <= {module.__name__ for module in MODULES}


@pytest.mark.parametrize("module", WITH_EXAMPLES, ids=lambda module: module.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in FINDER.find(module, module.__name__):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0, f"{results.failed} docstring example(s) failed in {module.__name__}"


# The longest line of an example that fits the API pages' content column at 1280 px (see
# tests/test_docs_examples.py); the API pages show examples as code, which does not wrap.
MAX_EXAMPLE_LINE = 80


def test_examples_fit_the_content_column() -> None:
    too_long = []
    for module in WITH_EXAMPLES:
        for test in FINDER.find(module, module.__name__):
            for example in test.examples:
                lines = [
                    ("... " if index else ">>> ") + line
                    for index, line in enumerate(example.source.splitlines())
                ]
                lines += example.want.splitlines()
                too_long += [
                    f"{test.name}: {line!r}" for line in lines if len(line) > MAX_EXAMPLE_LINE
                ]
    assert not too_long, (
        f"docstring example lines longer than {MAX_EXAMPLE_LINE} characters run off the "
        "edge of the API pages; shorten them (NORMALIZE_WHITESPACE lets an expected output "
        "span several lines):\n" + "\n".join(too_long)
    )
