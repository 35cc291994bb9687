"""A published file in the data folder: found there, or downloaded, verified and renamed."""

import http.client
import sys
import urllib.request
from pathlib import Path
from typing import Final

from tqdm import tqdm

from .._errors import DataError
from ._atomic_file import atomic_file
from ._published_file import PublishedFile, check_published, mismatch

_BLOCK_BYTES: Final = 1 << 16
_TIMEOUT_SECONDS: Final = 60.0
_USER_AGENT: Final = "elbox"


class _NotPublishedError(Exception):
    """A downloaded file that is not the published one (reported, then the next address)."""


def _where_to_find(published: PublishedFile) -> str:
    mirrors = published.urls[1:]
    also = f" (or {', '.join(mirrors)})" if mirrors else ""
    return f"{published.urls[0]}{also}"


def published_path(published: PublishedFile, folder: Path, *, dataset: str, download: bool) -> Path:
    """The path of `published` in `folder`, downloaded first when it is missing.

    A file already there is checked against the published checksums. A missing file is
    downloaded from its first address that works, with a progress bar, into a temporary
    file that is verified before it is renamed into place; nothing else is ever written
    into `folder`, so an interrupted download leaves nothing behind.

    Raises:
        DataError: when the file there is not the published one, or it is missing and
            cannot be downloaded (`download` is False, or no address gave the published
            file); the message says where to put it and where it is published.
    """
    path = folder / published.name
    if path.is_file():
        check_published(path, published)
        return path
    if path.exists():
        raise DataError(f"{path} is not a file; move it away so that {published.name} fits")
    if not download:
        raise DataError(
            f"{published.name} of {dataset} is missing and downloads are off (--no-download, "
            f"ELBOX_NO_DOWNLOAD or download=False): put the file in {folder}/; it is published at "
            f"{_where_to_find(published)}"
        )
    failures = []
    for url in published.urls:
        try:
            _download(url, path, published)
        except (OSError, http.client.HTTPException, _NotPublishedError) as error:
            failures.append(f"{url}: {_reason(error)}")
            continue
        return path
    raise DataError(
        f"cannot download {published.name} of {dataset} ({'; '.join(failures)}): put the file "
        f"in {folder}/ yourself; it is published at {_where_to_find(published)}"
    )


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)  # urllib.error.URLError
    text = str(reason if reason is not None and not isinstance(reason, str) else error)
    return " ".join(text.split()) or type(error).__name__


def _download(url: str, path: Path, published: PublishedFile) -> None:
    """Download `url` into `path` through a temporary file, verified before it is renamed."""
    print(f"elbox: downloading {url} to {path.parent}/", file=sys.stderr, flush=True)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with (
        urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response,
        atomic_file(path) as stream,
    ):
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else published.size
        received = 0
        with tqdm(
            total=expected,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=published.name,
            file=sys.stderr,
            disable=None,  # no bar where stderr is not a terminal
        ) as bar:
            while block := response.read(_BLOCK_BYTES):
                stream.write(block)
                received += len(block)
                bar.update(len(block))
        if expected is not None and received != expected:
            raise _NotPublishedError(f"the transfer stopped after {received} of {expected} bytes")
        stream.flush()
        problem = mismatch(Path(stream.name), published)
        if problem is not None:
            raise _NotPublishedError(f"the downloaded file is not the published one: {problem}")
