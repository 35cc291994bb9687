"""Where the standard data sets are kept, and whether a missing file may be downloaded."""

import os
from pathlib import Path
from typing import Final

from .._errors import DataError

DATA_ENV: Final = "ELBOX_DATA"
"""The environment variable naming the data folder."""

NO_DOWNLOAD_ENV: Final = "ELBOX_NO_DOWNLOAD"
"""The environment variable that turns downloads off (any value but empty, 0, false, no)."""

_OFF_VALUES: Final = ("", "0", "false", "no", "off")


def data_folder(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds the standard data sets, one sub-folder each.

    `data_dir` when given; else the environment variable `ELBOX_DATA`; else `elbox` in the
    user's cache folder: `$XDG_CACHE_HOME/elbox`, or `~/.cache/elbox`.

    Example:
        >>> from elbox.data import data_folder
        >>> str(data_folder("/srv/data"))
        '/srv/data'
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    chosen = os.environ.get(DATA_ENV)
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "elbox"


def downloads_allowed(download: bool | None) -> bool:
    """`download` when given; else True unless the environment variable ELBOX_NO_DOWNLOAD is
    set to something other than empty, 0, false, no or off."""
    if download is not None:
        if not isinstance(download, bool):
            raise TypeError(f"download must be True, False or None; got {download!r}")
        return download
    value = os.environ.get(NO_DOWNLOAD_ENV, "")
    return value.strip().lower() in _OFF_VALUES


def check_folder(folder: Path) -> None:
    """A DataError when `folder` exists and is not a folder."""
    if folder.exists() and not folder.is_dir():
        raise DataError(f"the data folder {folder} is a file; name a folder (--data-dir)")
