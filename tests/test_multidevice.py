"""Runs tests/multidevice in a process of its own with 4 virtual CPU devices.

XLA_FLAGS must be set before JAX starts, and the rest of the suite keeps one device, so
the multi-device tests run in a subprocess: `pytest tests/multidevice` with the flag set.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import xla_flags_with_devices

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.process  # 4 virtual devices: XLA_FLAGS must be set before JAX starts
def test_multidevice_suite_passes() -> None:
    environment = {
        **os.environ,
        "XLA_FLAGS": xla_flags_with_devices(4),
        "JAX_PLATFORMS": "cpu",
        "ELBOX_MULTIDEVICE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/multidevice"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout
