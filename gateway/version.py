"""The installed distribution's version."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version


def package_version() -> str:
    try:
        return _dist_version("coopgrid")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0+unknown"
