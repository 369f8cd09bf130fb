"""What an idle app lets go of its mapped library pages.

Most of the desktop app's resident memory at idle is not its own data but pages of the libraries it
mapped and once ran: LanceDB's 185 MB native module alone keeps ~145 MB resident after a few searches
and writes, Qt, onnxruntime, numpy and Python's own modules ~100 MB more. Those pages are the files'
own content, never written: dropping them from the app's page tables loses nothing (the next call reads
them again, from the page cache while the system still holds them there: a search after dropping them
took 23 ms against 21 here), and until then they are ordinary file cache, which the system reclaims
first under pressure, instead of pages of a running program, which it keeps.

Only mappings that cannot hold anything of the app's are dropped: a file's (not the heap's or a stack's),
not writable, and with no page of its own (`Anonymous: 0 kB` in /proc/self/smaps: a read-only mapping
that was written once, relocations for instance, has such pages, and dropping them would undo the
writes). Linux only; elsewhere nothing is done.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_MADV_DONTNEED = 4
_SMAPS = Path("/proc/self/smaps")


def let_go_of_library_pages() -> int:
    """Drop this process's resident pages of read-only file mappings that hold only the file's content;
    returns the bytes of the mappings dropped (0 where this cannot be done)."""
    libc_name = ctypes.util.find_library("c")
    if not _SMAPS.exists() or not libc_name:
        return 0
    try:
        madvise = ctypes.CDLL(libc_name, use_errno=True).madvise
        text = _SMAPS.read_text()
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    dropped = 0
    for start, end in droppable(text):
        if madvise(start, end - start, _MADV_DONTNEED) == 0:
            dropped += end - start
    log.debug("let go of %.0f MB of library mappings", dropped / 1e6)
    return dropped


def droppable(smaps: str) -> list[tuple[int, int]]:
    """The (start, end) of each mapping in /proc/<pid>/smaps text that is a file's, read-only, and holds
    no page of its own."""
    out: list[tuple[int, int]] = []
    mapping: tuple[int, int] | None = None
    for line in smaps.splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
            # "start-end perms offset dev inode [path]": a new mapping begins
            path = head[5] if len(head) == 6 else ""
            start, _, end = head[0].partition("-")
            mapping = (int(start, 16), int(end, 16)) if path.startswith("/") and "w" not in head[1] else None
        elif mapping is not None and line.startswith("Anonymous:"):
            if int(line.split()[1]) == 0:
                out.append(mapping)
            mapping = None
    return out
