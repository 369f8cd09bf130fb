"""The year-of-use fill resumes after an interruption without duplicating or losing rows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench import year_fill
from bench.year_embedder import YearEmbedder
from bench.year_fill import Fill, FillState, open_store
from bench.year_screens import Screen

FRAMES = 90


@dataclass(frozen=True)
class FakeTurn:
    speaker: str
    text: str


def _screens(folder: Path) -> list[Screen]:
    screens = []
    for i, topic in enumerate(("invoice garden", "kernel release", "flight dentist")):
        image = Image.new("RGB", (320, 200), (250, 250, 250))
        words = []
        for row, word in enumerate(topic.split() * 3):
            box = (10 + 40 * (row % 2), 30 + 18 * row, 8 * len(word), 14)
            ImageDraw.Draw(image).text(box[:2], word, fill=(0, 0, 0))
            words.append((word, *box))
        path = folder / f"screen{i}.png"
        image.save(path)
        screens.append(Screen(path.name, path, tuple(words)))
    return screens


def _embedder(screens: list[Screen], turns: list[FakeTurn]) -> YearEmbedder:
    rng = np.random.default_rng(0)
    texts = [" ".join(w[0] for w in s.words) for s in screens] + [t.text for t in turns]
    return YearEmbedder({t: rng.normal(size=384).astype(np.float32) for t in texts}, {})


class Interrupted(Exception):
    pass


class KilledAfter(Fill):
    """A fill that dies after `frames` screens, between a frame's row and its text (as a kill -9 can)."""

    def __init__(self, *args: object, frames: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.frames = frames

    def _write_pending_text(self) -> None:
        if self.kept + 1 >= self.frames:
            raise Interrupted
        super()._write_pending_text()


def _fill(folder: Path, screens: list[Screen], turns: list[FakeTurn], frames: int,
          killed_after: int | None = None) -> None:
    embedder = _embedder(screens, turns)
    store = open_store(folder / "home", embedder, kdf_seconds=0.05)
    state = FillState.load(folder / "state.json")
    try:
        if killed_after is None:
            Fill(store, screens, turns, folder, state=state, say=lambda _: None).run(frames)
        else:
            with pytest.raises(Interrupted):
                KilledAfter(store, screens, turns, folder, state=state, say=lambda _: None,
                            frames=killed_after).run(frames)
    finally:
        store.close()


def _contents(folder: Path, screens: list[Screen], turns: list[FakeTurn]) -> tuple[list[str], list[str], int]:
    store = open_store(folder / "home", _embedder(screens, turns))
    try:
        frames = store.list_range(kinds=["frame"], limit=10_000)
        messages = store.list_range(kinds=["message"], limit=10_000)
        return ([f"{f.time.isoformat()} {f.text}" for f in frames], sorted(m.id for m in messages),
                sum(f.text_pending for f in frames))
    finally:
        store.close()


# Three fills of 90 screens, each through the recorder, the importer and the digester: ~100 s on a loaded machine.
@pytest.mark.slow
def test_an_interrupted_fill_resumes_to_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(year_fill, "TICKS_PER_HOUR", 60)  # an hourly job, import and digest every 3 min
    monkeypatch.setattr(year_fill, "PROGRESS_EVERY", 15)
    screens = _screens(tmp_path)
    turns = [FakeTurn("Ana", f"the {w} is booked for friday") for w in ("flight", "dentist", "garden", "kernel")]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _fill(whole, screens, turns, FRAMES)
    _fill(broken, screens, turns, FRAMES, killed_after=FRAMES // 2)
    _fill(broken, screens, turns, FRAMES)

    frames, messages, pending = _contents(whole, screens, turns)
    assert len(frames) == FRAMES and len(set(frames)) == FRAMES and pending == 0
    assert messages
    assert _contents(broken, screens, turns) == (frames, messages, 0)
    # Each run of the fill counts its own open files at each progress line (year.fill.open_files_growth).
    runs = FillState.load(broken / "state.json").open_files
    assert len(runs) == 2 and runs[0][:2] == [15, 30] and runs[0][1] < runs[1][0] < runs[1][1] == FRAMES
    assert all(first <= most for _, _, first, most in runs)
