"""The two kinds of failure alseg reports without a traceback."""

from __future__ import annotations

import os


class AlsegError(Exception):
    """A domain failure (a run broke, a file is corrupt): the CLI prints one line and exits 1."""


class AlsegUsageError(AlsegError):
    """Bad input from the user (unknown name, missing folder, bad option): the CLI exits 2.

    The message names the problem and the fix, e.g. the list of valid names.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM during a benchmark (what `kill` and cluster schedulers send): handled like Ctrl-C."""


def debug_mode() -> bool:
    """ALSEG_DEBUG=1: let errors escape with their traceback (the CLI and isolated runs both read this)."""
    return os.environ.get("ALSEG_DEBUG", "") not in ("", "0")
