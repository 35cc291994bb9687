"""Development sessions: `nox -s tests typecheck` is the check CI runs.

- `tests`: the test suite on each JAX backend: `tests(backend='cpu')` always,
  `tests(backend='cuda')` where an NVIDIA GPU is visible (it skips, before installing
  anything, where none is).
- `typecheck`: `mypy --strict` on the package, tests, benchmarks and this file.
- `lint`: ruff's checks and format check.
- `bench`: the benchmarks under `benchmarks/`, printed as tables.
- `docs`: the documentation site, built strictly into `site/`.
- `docs_check`: the site built and opened page by page in headless Chromium, which must
  show no overflowing code or table, no missing image and no console error; screenshots
  of every page go to `site-check/`.
"""

import os
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
    # The slowest tests are listed, so CI's log shows where the suite's time goes.
    arguments = session.posargs or ["--durations=20"]
    session.run(
        "pytest",
        # One pytest-xdist worker per core; tests that share a session fixture (a trained
        # run) carry one xdist_group, so that one worker makes it once. Arguments given
        # after `--` come later and win: `-n 0` runs the tests in one process.
        *("-n", "auto", "--dist", "loadgroup"),
        *arguments,
        env={
            "JAX_PLATFORMS": backend,
            # The workers and the processes the tests start import the same modules:
            # compiled once to bytecode (in the session's virtual environment and
            # __pycache__ folders, both git-ignored) rather than once per process, where
            # the environment says not to write bytecode.
            "PYTHONDONTWRITEBYTECODE": "",
        },
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src/, tests/, benchmarks/, docs/ and noxfile.py."""
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


# Debian's Chromium, which docs_check drives with Playwright (Playwright's own browser
# download cannot reach its servers from every machine that builds the docs).
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _chromium(session: nox.Session) -> str:
    """The path of Chromium, installed with apt-get (as root) where it is missing."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.error(
            "docs_check needs Chromium: install it (Debian: apt-get install chromium) or put "
            "a `chromium` on PATH"
        )
    session.log("Chromium is missing: installing Debian's chromium package")
    session.run("apt-get", "update", "-q", external=True)
    session.run(
        "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", external=True
    )
    found = shutil.which("chromium")
    if found is None:
        session.error("apt-get installed chromium, but there is no `chromium` on PATH")
    return found


@nox.session
def docs_check(session: nox.Session) -> None:
    """Build the site and check every page in headless Chromium, as a reader sees it.

    The pages are served on 127.0.0.1 and opened at 1280 px; the check fails when a code
    block or a table is wider than its box, an image does not load, a page asks for
    anything outside the site, or the browser console shows an error. Screenshots of
    every page are saved under site-check/. Extra arguments go to docs/check_site.py.
    """
    chromium = _chromium(session)
    _install(session, "docs-check")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")
    session.run(
        "python",
        "docs/check_site.py",
        "site",
        "--screenshots",
        "site-check",
        "--chromium",
        chromium,
        *session.posargs,
    )
