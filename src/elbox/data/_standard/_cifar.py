"""CIFAR-10's binary version, `cifar-10-binary.tar.gz`, read without extracting it.

The archive (www.cs.toronto.edu/~kriz/cifar.html) holds `cifar-10-batches-bin/` with five
training batches `data_batch_1.bin` to `data_batch_5.bin` and `test_batch.bin`, of 10,000
records each. A record is 3073 bytes: the label (0 to 9), then the 32 x 32 red values, the
green values and the blue values, each row by row.
"""

import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from .._errors import DataError
from ._cache import images_file, labels_file, new_npy, save_array
from ._readable import Readable

CLASS_NAMES: Final = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FOLDER: Final = "cifar-10-batches-bin"
BATCHES: Final = {
    "train": tuple(f"data_batch_{number}.bin" for number in range(1, 6)),
    "test": ("test_batch.bin",),
}
SIDE: Final = 32
RECORD_BYTES: Final = 1 + 3 * SIDE * SIDE
_RECORDS_PER_READ: Final = 2048


def _members(archive: Path) -> Iterator[tuple[tarfile.TarInfo, Readable | None]]:
    """The archive's members in order, each with its contents' stream for a regular file
    (read it before taking the next member: the archive is read as one stream)."""
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                yield member, tar.extractfile(member) if member.isfile() else None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{archive} is not a whole tar.gz archive: {error}") from None


def _read(stream: Readable, count: int, where: str) -> bytes:
    try:
        data = stream.read(count)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{where} cannot be read: {error}") from None
    if len(data) != count:
        raise DataError(f"{where} ends early (truncated?)")
    return data


def _record_counts(archive: Path) -> dict[str, int]:
    """The number of records of each batch file, from the sizes in the archive."""
    wanted = {f"{FOLDER}/{name}" for names in BATCHES.values() for name in names}
    counts: dict[str, int] = {}
    for member, _ in _members(archive):
        if member.name not in wanted:
            continue
        if not member.isfile():
            raise DataError(f"{member.name} in {archive} is not a regular file")
        count, rest = divmod(member.size, RECORD_BYTES)
        if rest or not count:
            raise DataError(
                f"{member.name} in {archive} has {member.size} bytes, not a whole number of "
                f"{RECORD_BYTES}-byte records (a label and 32 x 32 x 3 pixels)"
            )
        counts[member.name.removeprefix(f"{FOLDER}/")] = count
    missing = sorted(name for name in wanted if name.removeprefix(f"{FOLDER}/") not in counts)
    if missing:
        raise DataError(
            f"{archive} lacks {', '.join(missing)}: it is not CIFAR-10's binary archive"
        )
    return counts


def _decode(
    records: npt.NDArray[np.uint8], where: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Images `(n, 32, 32, 3)` and labels of `(n, 3073)` records."""
    labels = records[:, 0]
    if labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{where} holds the label {int(labels.max())}; CIFAR-10's are 0 to 9")
    planes = records[:, 1:].reshape(len(records), 3, SIDE, SIDE)
    return planes.transpose(0, 2, 3, 1), labels


def write_cifar10(archive: Path, cache: Path) -> None:
    """Convert the archive into cache files of the training and test images (uint8,
    `(n, 32, 32, 3)`) and labels, reading it twice as a stream: sizes, then records."""
    counts = _record_counts(archive)
    firsts: dict[str, tuple[str, int]] = {}
    totals: dict[str, int] = {}
    for split, names in BATCHES.items():
        first = 0
        for name in names:
            firsts[name] = (split, first)
            first += counts[name]
        totals[split] = first
    labels = {split: np.zeros(total, np.uint8) for split, total in totals.items()}
    shape, dtype = (SIDE, SIDE, 3), np.dtype(np.uint8)
    with (
        new_npy(images_file(cache, "train"), (totals["train"], *shape), dtype) as train,
        new_npy(images_file(cache, "test"), (totals["test"], *shape), dtype) as test,
    ):
        outputs = {"train": train, "test": test}
        for member, stream in _members(archive):
            name = member.name.removeprefix(f"{FOLDER}/")
            if name not in firsts or stream is None:
                continue
            split, first = firsts[name]
            for start in range(0, counts[name], _RECORDS_PER_READ):
                number = min(_RECORDS_PER_READ, counts[name] - start)
                data = _read(stream, number * RECORD_BYTES, f"{member.name} in {archive}")
                records = np.frombuffer(data, np.uint8).reshape(number, RECORD_BYTES)
                images, batch_labels = _decode(records, f"{member.name} in {archive}")
                outputs[split].write_at(first + start, images)
                labels[split][first + start : first + start + number] = batch_labels
    for split, split_labels in labels.items():
        save_array(labels_file(cache, split), split_labels)
