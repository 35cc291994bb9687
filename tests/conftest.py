"""Test-wide settings: one JAX compilation cache for the session, strict JAX promotion rules,
and fixtures for input-validation tests."""

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

# One persistent compilation cache for the whole session, set before JAX is imported: the
# tests build many small trainers whose programs are the same XLA programs, compiled once
# and then read back, by this process, by the pytest-xdist workers (which inherit the
# environment of the process that starts them) and by the processes the tests start.
# Compiling is most of a small test's time on a CPU. The cache changes nothing in what
# runs, and compilations are still counted where a test counts them (JAX reports a cache
# read as a compilation). A cache named in the environment is used as it is.
_CACHE_OWNER = "ELBOX_TESTS_JAX_CACHE_OWNER"
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="elbox-tests-jax-cache-")
    os.environ[_CACHE_OWNER] = str(os.getpid())
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# XLA compiles the suite's programs without LLVM's optimisation passes: the tests' models
# are tiny, so compiling is most of their time and optimising the machine code saves less
# than it costs (a cold `elbox train --epochs 4`: 19 s -> 14 s). What a program computes
# is the same up to rounding; the benchmarks (`nox -s bench`) measure the default level.
# The processes the tests start inherit the setting; flags named in the environment stay.
_XLA_TEST_FLAG = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_TEST_FLAG}".strip()

import jax  # noqa: E402  (after the cache settings above, which JAX reads as it starts)
import jaxtyping  # noqa: E402
import pytest  # noqa: E402

# Set again through jax.config, in case a plugin imported JAX before this file ran.
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs",
    float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
)
jax.config.update(
    "jax_persistent_cache_min_entry_size_bytes",
    int(os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]),
)
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


def pytest_unconfigure(config: pytest.Config) -> None:
    """The process that made the session's compilation cache removes it at the end."""
    if os.environ.get(_CACHE_OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


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
