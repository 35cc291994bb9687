"""Development sessions: `nox -s tests typecheck` is the check CI runs.

- `tests`: the test suite on each JAX backend: `tests(backend='cpu')` always,
  `tests(backend='cuda')` where an NVIDIA GPU is visible (it skips, before installing
  anything, where none is).
- `typecheck`: `mypy --strict` on the package, tests, benchmarks and this file.
- `lint`: ruff's checks and format check.
- `bench`: the benchmarks under `benchmarks/`, printed as tables.
"""

import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# The CUDA build of JAX that the `cuda` backend installs; JAX also publishes `cuda13`.
JAX_CUDA_EXTRA = "jax[cuda12]"


def _visible_gpus() -> list[str]:
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return []
    try:
        listing = subprocess.run(
            [nvidia_smi, "-L"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in listing.stdout.splitlines() if line.startswith("GPU")]


def _install(session: nox.Session, *groups: str) -> None:
    requirements = [
        requirement
        for group in groups
        for requirement in nox.project.dependency_groups(PYPROJECT, group)
    ]
    session.install(".", *requirements)


@nox.session
@nox.parametrize("backend", ["cpu", "cuda"])
def tests(session: nox.Session, backend: str) -> None:
    """Run the test suite on one JAX backend."""
    if backend == "cuda":
        if not _visible_gpus():
            session.skip("no NVIDIA GPU visible (nvidia-smi -L lists none): CUDA tests skipped")
        _install(session, "test")
        session.install(JAX_CUDA_EXTRA)
    else:
        _install(session, "test")
    session.run("pytest", *session.posargs, env={"JAX_PLATFORMS": backend})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src/, tests/, benchmarks/ and noxfile.py."""
    _install(session, "typecheck")
    session.install("nox")
    session.run("mypy", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Print the benchmark tables (ratios against baselines measured in the same run).

    `nox -s bench` runs every script in benchmarks/; `nox -s bench -- step_time` runs one.
    """
    _install(session)
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    if session.posargs:
        scripts = [script for script in scripts if script.stem in session.posargs]
        if not scripts:
            session.error(f"no benchmark named {session.posargs}; see benchmarks/")
    for script in scripts:
        session.run("python", str(script))


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/; any warning (a broken link, a missing
    reference) fails the build.

    Extra arguments go to mkdocs: `nox -s docs -- --site-dir /tmp/site`.
    """
    _install(session, "docs")
    session.run("mkdocs", "build", "--strict", *session.posargs)
