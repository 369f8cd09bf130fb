"""An idle app drops its library pages from memory and goes on working (app/idle_pages.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.idle_pages import droppable, let_go_of_library_pages
from storage.memory import Memory
from storage.search import SearchOptions
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE
from fakes import HashEmbedder

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps (Linux)")

SMAPS = """\
7f0000000000-7f0000100000 r-xp 00000000 fd:01 123 /usr/lib/libexample.so
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
7f0000100000-7f0000101000 r--p 00100000 fd:01 123 /usr/lib/libexample.so
Size:                  4 kB
Anonymous:             4 kB
VmFlags: rd mr mw me ac
7f0000101000-7f0000102000 rw-p 00101000 fd:01 123 /usr/lib/libexample.so
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Anonymous:          1024 kB
7f0000300000-7f0000301000 r--s 00000000 fd:01 456 /home/u/.local/share/engram/store/data/a.lance (deleted)
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
"""


def rss_file_kb() -> int:
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssFile:"))
    return int(line.split()[1])


def test_only_read_only_file_mappings_with_no_page_of_their_own_are_dropped() -> None:
    # Code is; relocated read-only data (written once), writable data, the heap and the stack are not.
    assert droppable(SMAPS) == [(0x7f0000000000, 0x7f0000100000), (0x7f0000300000, 0x7f0000301000)]


def test_dropping_library_pages_lowers_resident_memory_and_the_store_still_answers(home: Path) -> None:
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    ids = store.add([Memory("message", f"note {i} about the boat") for i in range(50)])
    store.search("boat", SearchOptions(mode="keyword"))
    before = rss_file_kb()
    assert let_go_of_library_pages() > 0
    assert rss_file_kb() < before / 2, (before, rss_file_kb())
    assert store.search("note 7 boat", SearchOptions(mode="keyword")).hits[0].id == ids[7]   # read back in
    assert store.get(ids[3]).text == "note 3 about the boat"
    store.close()
