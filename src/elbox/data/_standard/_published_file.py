"""A file as its publisher released it: where it lives, its size and its checksums."""

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal

from .._errors import DataError

Algorithm = Literal["sha256", "md5", "git-blob-sha1"]
"""How a checksum is computed: SHA-256 or MD5 of the file's bytes, or the SHA-1 that git
names the file by in the repository that publishes it (`git hash-object FILE`)."""

_READ_BYTES: Final = 1 << 20


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """One file of a data set, as published.

    Attributes:
        name: the file's name, as published (and as it is kept in the data folder).
        urls: where it can be downloaded, the canonical address first, then mirrors.
        size: its size in bytes, when known.
        checksums: hex digests by algorithm; a file is accepted only when all match.
    """

    name: str
    urls: tuple[str, ...]
    size: int | None
    checksums: Mapping[Algorithm, str]

    def __post_init__(self) -> None:
        if not self.urls or not self.checksums:
            raise ValueError(f"{self.name}: a published file needs a URL and a checksum")


def digests(path: Path, algorithms: tuple[Algorithm, ...]) -> dict[Algorithm, str]:
    """The hex digests of the file at `path`, read once, in blocks."""
    size = path.stat().st_size
    hashers = {}
    for algorithm in algorithms:
        if algorithm == "git-blob-sha1":
            hasher = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
        else:
            hasher = hashlib.new(algorithm, usedforsecurity=algorithm == "sha256")
        hashers[algorithm] = hasher
    with path.open("rb") as stream:
        while block := stream.read(_READ_BYTES):
            for hasher in hashers.values():
                hasher.update(block)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}


def mismatch(path: Path, published: PublishedFile) -> str | None:
    """Why the file at `path` is not the published file, or None when it is."""
    size = path.stat().st_size
    if published.size is not None and size != published.size:
        shorter = " (truncated?)" if size < published.size else ""
        return f"it has {size} bytes, the published file {published.size}{shorter}"
    found = digests(path, tuple(published.checksums))
    for algorithm, expected in published.checksums.items():
        if found[algorithm] != expected.lower():
            return f"its {algorithm} is {found[algorithm]}, the published file's {expected}"
    return None


def check_published(path: Path, published: PublishedFile) -> None:
    """A DataError when the file at `path` is not the published file."""
    problem = mismatch(path, published)
    if problem is not None:
        raise DataError(
            f"{path} is not the published {published.name}: {problem}; it is damaged or "
            f"another file: delete it so that elbox downloads it again, or replace it with "
            f"the file from {published.urls[0]}"
        )
