"""Peak resident memory of `elbox train --data big.npy`: bounded by a batch, not the file.

Writes a float32 `.npy` file of several GB (3.3 GB by default; `ELBOX_BENCH_DATA_GB`
changes it) into a temporary folder, trains two epochs on it through the command line in a
subprocess, and reports the subprocess's peak resident set size (`ru_maxrss` from
`wait4`). For scale, the same command on the bundled digits (115 KB of data) runs first:
the difference between the two is what the data costs. The file is deleted at the end.

    python benchmarks/own_data_memory.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GIGABYTE = 1e9
IMAGE = (64, 64)
CHUNK = 4096  # examples written at a time
TRAIN = ["--epochs", "2", "--batch-size", "256", "--hidden", "64", "--latent", "8"]


def _available_memory() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / GIGABYTE
    except OSError:
        return None
    return None


def _write(path: Path, count: int) -> None:
    """`count` 64x64 float32 images in [0, 1]: blurred blobs, so there is something to learn.

    Written a chunk at a time with plain writes, so this process stays small too.
    """
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (count, *IMAGE),
    }
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0 : IMAGE[0], 0 : IMAGE[1]]
    with path.open("wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        for start in range(0, count, CHUNK):
            stop = min(count, start + CHUNK)
            centres = rng.uniform(8, 56, (stop - start, 2, 1, 1))
            distance = (rows - centres[:, 0]) ** 2 + (columns - centres[:, 1]) ** 2
            file.write(np.exp(-distance / 40.0).astype(np.float32).tobytes())


def _peak_rss(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run `elbox ARGS`; its peak resident memory in GB and its duration in seconds."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "elbox.cli", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"elbox {' '.join(args)} failed:\n{errors.decode()[-3000:]}")
    return usage.ru_maxrss * 1024 / GIGABYTE, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    size = float(os.environ.get("ELBOX_BENCH_DATA_GB", "3.3"))
    count = int(size * GIGABYTE / (4 * IMAGE[0] * IMAGE[1]))
    folder = Path(tempfile.mkdtemp(prefix="elbox-own-data-"))
    try:
        free = shutil.disk_usage(folder).free / GIGABYTE
        if free < 1.5 * size + 1:
            print(f"own_data_memory: skipped: {free:.1f} GB free in {folder}, {size} GB needed")
            return
        data = folder / "big.npy"
        start = time.perf_counter()
        _write(data, count)
        written = time.perf_counter() - start
        file_size = data.stat().st_size / GIGABYTE
        digits_rss, digits_seconds = _peak_rss(
            ["train", *TRAIN, "--output", str(folder / "digits")], folder
        )
        big_rss, big_seconds = _peak_rss(
            ["train", "--data", str(data), *TRAIN, "--output", str(folder / "big")], folder
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    available = _available_memory()
    print(
        f"\nelbox train, 2 epochs, batch 256, MLP 64 hidden / 8 latent "
        f"(memory available: {'?' if available is None else f'{available:.1f}'} GB)\n"
    )
    print("| data | file | examples | peak resident memory | time |")
    print("|---|---:|---:|---:|---:|")
    print(f"| bundled digits | 0.0001 GB | 1797 | {digits_rss:.2f} GB | {digits_seconds:.0f} s |")
    print(
        f"| big.npy, float32 64x64 | {file_size:.2f} GB | {count} | {big_rss:.2f} GB | "
        f"{big_seconds:.0f} s |"
    )
    print(f"\n(writing the file took {written:.0f} s; it is deleted again)")


if __name__ == "__main__":
    main()
