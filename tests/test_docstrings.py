"""Every example in elbox's docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import elbox


def _modules() -> list[ModuleType]:
    names = [elbox.__name__] + [
        info.name for info in pkgutil.walk_packages(elbox.__path__, prefix="elbox.")
    ]
    return [importlib.import_module(name) for name in sorted(names)]


MODULES = _modules()


def test_every_module_is_collected() -> None:
    names = {module.__name__ for module in MODULES}
    assert {
        "elbox.trainers._vae_trainer",
        "elbox.objectives._schedules",
        "elbox.models.nnx",
    } <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) failed in {module.__name__}"


# The longest line of an example that fits the API pages' content column at 1280 px (see
# tests/test_docs_examples.py); the API pages show examples as code, which does not wrap.
MAX_EXAMPLE_LINE = 80


def test_examples_fit_the_content_column() -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    too_long = []
    for module in MODULES:
        for test in finder.find(module, module.__name__):
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
