"""A standard data set made ready: its cache opened, or built from the published files
(found in the data folder or downloaded) and then opened."""

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from .._errors import DataError
from ._cache import CacheDamagedError, cache_folder
from ._data_folder import check_folder, data_folder, downloads_allowed
from ._download import published_path
from ._registry import published_files

Opened = TypeVar("Opened")

Build = Callable[[Mapping[str, Path], Path], None]
"""Converts the published files (by role) into the files of a cache folder."""


def prepared(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    download: bool | None,
    *,
    outputs: Sequence[str],
    build: Build,
    open_cache: Callable[[Path, Path], Opened],
) -> Opened:
    """Data set `name`, opened by `open_cache(cache, folder)` from its cache folder.

    When a file of `outputs` is missing from the cache (or `open_cache` finds one damaged),
    the published files are found in (or downloaded into) `data_folder(data_dir) / name`,
    and `build` converts them into the cache first.
    """
    allowed = downloads_allowed(download)
    root = data_folder(data_dir)
    check_folder(root)
    folder = root / name
    files = published_files(name)
    cache = cache_folder(folder, files)
    if all((cache / output).is_file() for output in outputs):
        try:
            return open_cache(cache, folder)
        except CacheDamagedError:
            pass  # rebuilt below
    sources = {
        role: published_path(published, folder, dataset=name, download=allowed)
        for role, published in files.items()
    }
    print(f"elbox: converting {name} into {cache}/ (once)", file=sys.stderr, flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    build(sources, cache)
    try:
        return open_cache(cache, folder)
    except CacheDamagedError as error:
        raise DataError(f"the cache of {name} just written cannot be read back: {error}") from None
