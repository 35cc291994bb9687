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
    assert {"elbox._trainer", "elbox._schedules", "elbox.models.nnx"} <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) failed in {module.__name__}"
