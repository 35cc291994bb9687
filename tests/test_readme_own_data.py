"""The README's "Your own data" commands run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> str:
    section = (ROOT / "README.md").read_text().split("## Your own data\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    found = re.search(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert found is not None, "the section has no bash block"
    return found.group(1)


@pytest.mark.process  # the README's commands, run by bash as a reader runs them
def test_readme_own_data_commands_run(tmp_path: Path) -> None:
    # `photos` stands for the reader's folder of images: 100 small RGB pictures here.
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for index in range(100):
        pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "photos" / f"{index:03d}.png")
    bin_folder = str(Path(sys.executable).parent)  # where this environment's `elbox` lives
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _commands()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1800,
        env={
            **os.environ,
            "PATH": bin_folder + os.pathsep + os.environ.get("PATH", ""),
            "JAX_PLATFORMS": "cpu",
        },
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert any((tmp_path / "runs" / "digits-npy" / "tensorboard").iterdir())
    assert (tmp_path / "runs" / "photos" / "evaluation.json").exists()
    assert "runs/photos: best checkpoint" in result.stdout
