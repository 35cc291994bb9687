"""Test-wide settings: strict JAX promotion rules, and a fixture for input-validation tests."""

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

import jax
import jaxtyping
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# No test downloads a standard data set by accident: downloads are off, and the data folder
# is a fresh temporary one. The tests of downloads turn them on, from 127.0.0.1 only.
os.environ["ELBOX_NO_DOWNLOAD"] = "1"
os.environ["ELBOX_DATA"] = tempfile.mkdtemp(prefix="elbox-test-data-")
atexit.register(shutil.rmtree, os.environ["ELBOX_DATA"], ignore_errors=True)

# tests/multidevice needs 4 (virtual) devices: tests/test_multidevice.py runs it in a process
# of its own with ELBOX_MULTIDEVICE set; the main run leaves it out.
collect_ignore = [] if os.environ.get("ELBOX_MULTIDEVICE") else ["multidevice"]


@pytest.fixture
def without_hook_checks() -> Iterator[None]:
    """Run a test with jaxtyping's run-time checks off.

    The suite runs elbox under jaxtyping's import hook, which type-checks the arguments of
    every function. elbox's entry points validate their inputs themselves, with messages
    that say what they accept; the hook's generic checks would pre-empt those messages,
    which users (who run elbox without the hook) see.
    """
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)


@pytest.fixture
def without_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a test as if the optional extras were not installed: tensorboardX and wandb
    cannot be imported (a None in sys.modules refuses an import)."""
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
