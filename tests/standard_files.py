"""Small files in the exact published formats of the standard data sets, the registry
entries that describe them, and a local HTTP server on 127.0.0.1 that serves them.

The writers follow the publishers' descriptions, not elbox's readers: IDX (yann.lecun.com/
exdb/mnist/: magic 0x00000803 / 0x00000801, big-endian sizes, gzip-compressed), the
binarised MNIST `.amat` text (784 space-separated 0/1 values a line), CIFAR-10's binary
batches (3073-byte records: a label, then the red, green and blue planes, in a tar.gz under
`cifar-10-batches-bin/`) and the dSprites `.npz` (`imgs`, `latents_classes`,
`latents_values` and a pickled `metadata` dict, as `np.savez_compressed` writes them).
"""

import contextlib
import dataclasses
import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from elbox.data._standard import _registry
from elbox.data._standard._published_file import PublishedFile

# A port nothing listens on: a download from it fails at once, as without a network.
CLOSED_URL = "http://127.0.0.1:9/"


def write_idx(path: Path, values: npt.NDArray[np.uint8]) -> Path:
    """`values` as a gzip-compressed IDX file of unsigned bytes."""
    header = bytes([0, 0, 0x08, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as stream:
        stream.write(header + np.ascontiguousarray(values, np.uint8).tobytes())
    return path


def write_amat(path: Path, images: npt.NDArray[np.uint8]) -> Path:
    """Binary images `(n, 784)` as an `.amat` file: a line of space-separated 0s and 1s each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(str(int(v)) for v in image) + "\n" for image in images))
    return path


def cifar_records(labels: npt.NDArray[np.uint8], images: npt.NDArray[np.uint8]) -> bytes:
    """CIFAR-10 records of `images` `(n, 32, 32, 3)`: label, red plane, green, blue."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)
    return np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8).tobytes()


def write_cifar(
    path: Path, members: Mapping[str, bytes], *, extra: Mapping[str, bytes] | None = None
) -> Path:
    """A tar.gz holding `cifar-10-batches-bin/NAME` for each member, in the given order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {**members, **(extra or {})}.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@dataclasses.dataclass(frozen=True)
class CifarFixture:
    """Images and labels written into a CIFAR-10 archive, in the published order."""

    path: Path
    train_images: npt.NDArray[np.uint8]
    train_labels: npt.NDArray[np.uint8]
    test_images: npt.NDArray[np.uint8]
    test_labels: npt.NDArray[np.uint8]


def cifar_fixture(path: Path, per_batch: int = 3, seed: int = 0) -> CifarFixture:
    """Five training batches and a test batch of `per_batch` random images each, written
    with the test batch first (the reader must not rely on the members' order)."""
    rng = np.random.default_rng(seed)
    count = 6 * per_batch
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    members = {
        "test_batch.bin": cifar_records(labels[-per_batch:], images[-per_batch:]),
        "batches.meta.txt": b"airplane\nautomobile\n",
    }
    for number in range(1, 6):
        rows = slice((number - 1) * per_batch, number * per_batch)
        members[f"data_batch_{number}.bin"] = cifar_records(labels[rows], images[rows])
    write_cifar(path, members)
    train = 5 * per_batch
    return CifarFixture(path, images[:train], labels[:train], images[train:], labels[train:])


DSPRITES_SIZES = (1, 3, 2, 2, 4, 4)


def dsprites_arrays(
    sizes: tuple[int, ...] = DSPRITES_SIZES,
) -> dict[str, npt.NDArray[Any]]:
    """dSprites' arrays for a small grid: a square whose side tells the shape and scale, at
    the position's place, and a pixel for the orientation, so that every image differs."""
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    values = np.stack(
        [
            np.ones(len(classes)),
            classes[:, 1] + 1.0,  # shape: 1 square, 2 ellipse, 3 heart
            0.5 + 0.1 * classes[:, 2],
            2 * np.pi * classes[:, 3] / 40,
            classes[:, 4] / 31,
            classes[:, 5] / 31,
        ],
        axis=1,
    )
    images = np.zeros((len(classes), 64, 64), np.uint8)
    for image, (_, shape, scale, turn, x, y) in zip(images, classes, strict=True):
        side = 3 + 2 * shape + scale
        top, left = 4 + 10 * y, 4 + 10 * x
        image[top : top + side, left : left + side] = 1
        image[63, turn] = 1
    return {
        "imgs": images,
        "latents_classes": classes.astype(np.int64),
        "latents_values": values,
    }


def write_dsprites(path: Path, arrays: Mapping[str, npt.NDArray[Any]] | None = None) -> Path:
    """The arrays as dSprites' `.npz`, with its pickled `metadata` dict."""
    arrays = dict(dsprites_arrays() if arrays is None else arrays)
    metadata = np.array(
        {"latents_sizes": np.array(DSPRITES_SIZES), "description": "a small dSprites"},
        dtype=object,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, metadata=metadata, **arrays)  # type: ignore[arg-type]  # mypy also matches **arrays to allow_pickle
    return path


def published(path: Path, urls: tuple[str, ...] = (CLOSED_URL,)) -> PublishedFile:
    """The registry entry of `path` as if it were published at `urls` (folder addresses)."""
    data = path.read_bytes()
    return PublishedFile(
        path.name,
        tuple(url + path.name for url in urls),
        len(data),
        {"sha256": hashlib.sha256(data).hexdigest()},
    )


def register(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    files: Mapping[str, Path],
    urls: tuple[str, ...] = (CLOSED_URL,),
) -> None:
    """Describe data set `name`'s files by these (for this test only)."""
    monkeypatch.setitem(
        _registry._FILES, name, {role: published(path, urls) for role, path in files.items()}
    )


def mnist_files(folder: Path, seed: int = 0) -> tuple[dict[str, Path], dict[str, Any]]:
    """MNIST's four IDX files of a few 28 x 28 images, and what they hold."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 7, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    names = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    paths = {role: write_idx(folder / names[role], arrays[role]) for role in names}
    return paths, arrays


@dataclasses.dataclass
class FileServer:
    """An HTTP server on 127.0.0.1 serving `files` by name.

    `mode` changes what it sends: "whole"; "cut" (the promised Content-Length, then half
    the bytes and a closed connection); "other" (other bytes of the same length).
    """

    files: dict[str, bytes]
    mode: str = "whole"
    port: int = 0
    requests: list[str] = dataclasses.field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            server.requests.append(name)
            data = server.files.get(name)
            if data is None:
                self.send_error(404)
                return
            if server.mode == "other":
                data = bytes(255 - byte for byte in data)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if server.mode == "cut":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serving() -> Iterator[FileServer]:
    """A FileServer running in a thread while the block runs."""
    state = FileServer({})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
