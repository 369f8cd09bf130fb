"""The row ledger: which rows Engram itself wrote, so rows copied back, duplicated or dropped on disk are
noticed (issue 20.5).

Each sealed field is bound to its row's clear columns (storage/codec.py), which catches an edit inside a
row. A whole row is another matter: an older copy of a row (all its columns, sealed fields and all) opens
as well as the newest, and a row copied twice or taken out breaks nothing that reads it. So the store
keeps, per kind of row, how many rows it holds and a keyed multiset hash of them: the sum, modulo 2^256,
of a keyed hash of each row's kind, id and `updated_us` (every change to a row gives it a new
`updated_us`). Each write adds the rows it writes and subtracts those it replaces or deletes. A check
reads the ids and stamps of every row, sums them again and compares.

Without the key the hash of a row cannot be made, and the ledger file is sealed (AES-GCM, bound to the
store id), so its sums cannot be read either: an earlier sum seen beside an earlier state of the table
would otherwise tell what to subtract. What it does not catch: the whole store (every file, ledger
included) put back as it was at an earlier moment, which is what restoring a backup does.

A write and its ledger entry are two files, not one commit: the ledger names the sums after the write as
`pending` before the write is committed and makes them the expected ones after, so a crash between
the two leaves a ledger that accepts either state (the next check settles it).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.atomic import write_bytes_atomically
from storage.keys import _hkdf

log = logging.getLogger(__name__)

FILE = "engram-ledger.bin"
_MOD = 1 << 256
_NONCE = 12

Stamp = tuple[str, str, int]          # kind, id, updated_us
Tally = dict[str, tuple[int, int]]    # kind -> (rows, sum of their keyed hashes mod 2^256)

# What a row of each kind is, in the user's words (the check's findings are shown to them).
_NAMES = {"frame": "screens", "message": "chat messages", "core": "facts about you", "episodic": "events",
          "semantic": "notes", "procedural": "procedures", "resource": "files and links", "vault": "vault entries"}


# The finding of a ledger started again because it was missing or damaged (not a kind of row).
_LOST = "ledger"


class LedgerUnreadable(Exception):
    """The ledger file does not open with this store's key: damaged, or put there from elsewhere."""


@dataclass(frozen=True)
class Finding:
    """One kind of row whose stored rows are not the ones Engram wrote."""
    kind: str
    missing: int      # rows Engram wrote that are not there (negative: rows there that Engram did not write)
    changed: bool     # the same number of rows, but not the same rows (an older copy of one, a row swapped)

    def line(self) -> str:
        if self.kind == _LOST:
            return ("the store's row ledger was missing or damaged, and was started again: whether rows were "
                    "changed outside Engram before that cannot be told")
        name = _NAMES.get(self.kind, self.kind)
        if self.missing > 0:
            return f"{name}: {self.missing} row(s) Engram wrote are gone (removed outside Engram)"
        if self.missing < 0:
            return f"{name}: {-self.missing} row(s) Engram did not write (copied or added outside Engram)"
        return f"{name}: a row was replaced by an older copy or swapped outside Engram"


@dataclass
class Check:
    findings: list[Finding]
    rows: int
    settled: bool = False   # a write cut short by a crash was found committed (or not) and noted

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


class RowLedger:
    """The ledger of one store; every method that writes it runs under the store's writer lock."""

    def __init__(self, store_dir: Path, content_key: bytes, store_id: str) -> None:
        self.path = store_dir / FILE
        self._hash_key = _hkdf(content_key, b"", b"engram/row-ledger-hash/v1")
        self._seal = AESGCM(_hkdf(content_key, b"", b"engram/row-ledger-seal/v1"))
        self._aad = f"engram/row-ledger/v1|{store_id}".encode("ascii")
        self._findings_of: tuple[tuple[int, int, int], list[Finding]] | None = None  # by the file's stat

    # -- the sums -----------------------------------------------------------------

    def tally(self, stamps: Iterable[Stamp]) -> Tally:
        out: dict[str, list[int]] = {}
        for kind, row_id, updated_us in stamps:
            entry = out.setdefault(kind, [0, 0])
            entry[0] += 1
            entry[1] = (entry[1] + self._hash(kind, row_id, updated_us)) % _MOD
        return {k: (n, s) for k, (n, s) in out.items()}

    def _hash(self, kind: str, row_id: str, updated_us: int) -> int:
        digest = hashlib.blake2b(f"{kind}|{row_id}|{int(updated_us)}".encode(), key=self._hash_key, digest_size=32)
        return int.from_bytes(digest.digest(), "big")

    def _moved(self, base: Tally, added: Iterable[Stamp], removed: Iterable[Stamp]) -> Tally:
        out = {k: list(v) for k, v in base.items()}
        for sign, stamps in ((1, added), (-1, removed)):
            for kind, (n, s) in self.tally(stamps).items():
                entry = out.setdefault(kind, [0, 0])
                entry[0] += sign * n
                entry[1] = (entry[1] + sign * s) % _MOD
        return {k: (n, s) for k, (n, s) in out.items() if n or s}

    # -- the file -----------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            blob = self.path.read_bytes()
            plain = self._seal.decrypt(blob[:_NONCE], blob[_NONCE:], self._aad)
            state = json.loads(plain)
        except FileNotFoundError:
            raise
        except (OSError, InvalidTag, ValueError) as exc:
            raise LedgerUnreadable(f"the store's row ledger ({self.path.name}) does not open with this store's "
                                   f"key ({type(exc).__name__})") from None
        return {"expected": _tally_of(state["expected"]),
                "pending": _tally_of(state["pending"]) if state.get("pending") is not None else None,
                "findings": state.get("findings", [])}

    def _write(self, expected: Tally, pending: Tally | None = None, findings: list[dict[str, Any]] | None = None) -> None:
        state = {"expected": _json_of(expected), "pending": _json_of(pending) if pending is not None else None,
                 "findings": findings or []}
        nonce = os.urandom(_NONCE)
        write_bytes_atomically(self.path, nonce + self._seal.encrypt(nonce, json.dumps(state).encode(), self._aad))

    # -- what the store calls -----------------------------------------------------

    def start(self, stamps: Iterable[Stamp], lost: bool = False) -> None:
        """Take the rows stored now as the ones Engram wrote (a new store, an older store's first opening,
        or the user accepting the store as it is). `lost`: the ledger was missing or damaged, which stays a
        finding until the user accepts the store as it is."""
        self._write(self.tally(stamps), findings=[_json_finding(Finding(_LOST, 0, True))] if lost else [])

    @contextmanager
    def change(self, added: Iterable[Stamp], removed: Iterable[Stamp],
               all_stamps: Callable[[], Iterable[Stamp]]) -> Iterator[None]:
        """Around one commit that writes `added` and replaces or deletes `removed`."""
        state = self._state(all_stamps)
        if state["pending"] is not None:  # a write before this one was cut short: which state is on disk?
            state = {**state, **self._settle(state, list(all_stamps()))}
        base, findings = state["expected"], state["findings"]
        after = self._moved(base, list(added), list(removed))
        if after == base:
            yield
            return
        self._write(base, pending=after, findings=findings)
        yield  # an error in the commit leaves the pending sums: the next write or check settles them
        self._write(after, findings=findings)

    def check(self, stamps: Iterable[Stamp]) -> Check:
        """Compare the rows stored now with those Engram wrote; the findings are kept for `last_findings`."""
        listed = list(stamps)
        state = self._state(lambda: listed)
        settled = state["pending"] is not None
        after = self._settle(state, listed)
        findings = [_finding_of(f) for f in after["findings"]]
        return Check(findings, len(listed), settled)

    def counts_agree(self, rows: int) -> bool:
        """Whether `rows` is the number of rows Engram wrote (or is writing): the check a store makes when
        it opens, which costs a row count, not a read of every row. False when the ledger does not open."""
        try:
            state = self._read()
        except (FileNotFoundError, LedgerUnreadable):
            return False
        tallies = [state["expected"]] + ([state["pending"]] if state["pending"] is not None else [])
        return any(sum(n for n, _ in tally.values()) == rows for tally in tallies)

    def last_findings(self) -> list[Finding]:
        """What the last check found, without reading the table (for the tray and `engram doctor`)."""
        try:
            seen = self.path.stat()
            stamp = (seen.st_mtime_ns, seen.st_size, seen.st_ino)  # the tray asks every 20 s: read on change
            if self._findings_of is None or self._findings_of[0] != stamp:
                self._findings_of = stamp, [_finding_of(f) for f in self._read()["findings"]]
            return list(self._findings_of[1])
        except (FileNotFoundError, LedgerUnreadable):  # gone since the store opened (which made sure of it)
            return [Finding(_LOST, 0, True)]

    def _state(self, all_stamps: Callable[[], Iterable[Stamp]]) -> dict[str, Any]:
        """The ledger as written; one deleted or damaged while the store was open is started again over the
        rows as they are, with the finding that says so (a write must not fail for it)."""
        try:
            return self._read()
        except (FileNotFoundError, LedgerUnreadable):
            log.warning("the store's row ledger was missing or damaged: started again")
            self.start(all_stamps(), lost=True)
            return self._read()

    def _settle(self, state: dict[str, Any], stamps: list[Stamp]) -> dict[str, Any]:
        actual = self.tally(stamps)
        candidates = [state["expected"]] + ([state["pending"]] if state["pending"] is not None else [])
        lost = [f for f in state["findings"] if f["kind"] == _LOST]
        if actual in candidates:
            expected, findings = actual, lost
        else:
            # Engram's own view stays what it wrote (later writes move it on), so the finding stays until
            # the user accepts the store as it is or the rows come back.
            expected = state["pending"] if state["pending"] is not None else state["expected"]
            findings = lost + [_json_finding(f) for f in _compare(expected, actual)]
        self._write(expected, findings=findings)
        return {"expected": expected, "findings": findings}


def _compare(expected: Tally, actual: Tally) -> list[Finding]:
    out = []
    for kind in sorted(set(expected) | set(actual)):
        (n_want, s_want), (n_have, s_have) = expected.get(kind, (0, 0)), actual.get(kind, (0, 0))
        if (n_want, s_want) != (n_have, s_have):
            out.append(Finding(kind, n_want - n_have, changed=n_want == n_have))
    return out


def _json_of(tally: Tally) -> dict[str, list[Any]]:
    return {k: [n, format(s, "064x")] for k, (n, s) in sorted(tally.items())}


def _tally_of(data: dict[str, list[Any]]) -> Tally:
    return {k: (int(n), int(s, 16)) for k, (n, s) in data.items()}


def _json_finding(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind, "missing": finding.missing, "changed": finding.changed}


def _finding_of(data: dict[str, Any]) -> Finding:
    return Finding(str(data["kind"]), int(data["missing"]), bool(data["changed"]))
