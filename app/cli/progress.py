"""A one-line progress bar on stderr for long CLI work (imports, digesting)."""
from __future__ import annotations

import sys


class ProgressBar:
    """Redrawn in place; call with (done, total), then `close()`."""

    WIDTH = 30

    def __init__(self, label: str) -> None:
        self._label = label
        self._drawn = -1

    def __call__(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // total if total else self.WIDTH
        if filled == self._drawn and done < total:
            return  # redraw only when the bar moves: big jobs report often
        self._drawn = filled
        sys.stderr.write(f"\r{self._label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done:,}/{total:,}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._drawn >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()
