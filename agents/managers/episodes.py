"""Episodes from the screen: contiguous activity in one window collapsed into one event.

Frames arrive every few seconds; a person remembers "09:14–09:32 edited 'Q3
report' in Writer". Consecutive frames of the same app and window title, with
no gap longer than GAP (see there), make one episode. An episode still open when the next
batch arrives is extended (MERGE) instead of starting a new one.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from agents.managers.base import MERGE, Batch, Candidate, Decision, MemoryManager, Store
from agents.observation import Observation
from storage.blind_index import words
from storage.memory import Memory, Trust

# An unchanged screen stores no frame, so ten minutes of reading one page leaves a gap in the frames;
# capture stops after 5 idle minutes anyway. A longer silence in the same window is a new episode.
GAP = timedelta(minutes=15)
_KEY_PHRASES = 8
# Words that say nothing about what an episode was about (UI chrome and glue words).
_DULL = frozenset(words(
    "the and for with that this from have are was were you your our not but all can will has had any its "
    "file edit view help tools window tab new open save close search settings home menu more share insert "
    "format page http https www com org html"))


def episodes_from_frames(frames: Sequence[Observation]) -> list[Candidate]:
    """One candidate per run of frames in the same window."""
    runs: list[list[Observation]] = []
    for frame in sorted(frames, key=lambda f: f.time):
        last = runs[-1][-1] if runs else None
        if last and (last.app, last.title) == (frame.app, frame.title) and frame.time - last.time <= GAP:
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return [_candidate(run) for run in runs if run[0].app or run[0].title]


def _candidate(run: list[Observation]) -> Candidate:
    first, last = run[0], run[-1]
    return Candidate(kind="episodic", text=describe(first.app, first.title), time=first.time, ended=last.time,
                     trust=Trust.OBSERVED, source_kind="screen", source_ids=[o.source_ref for o in run],
                     fields={"actor": "user", "event_type": "screen activity",
                             "key_phrases": key_phrases(o.text for o in run)},
                     app=first.app, title=first.title, key=f"{first.app}\x1f{first.title}", why="screen activity")


def describe(app: str, title: str) -> str:
    if title and app and app.lower() not in title.lower():
        return f"{title} ({app})"
    return title or app


def key_phrases(texts: Iterable[str], limit: int = _KEY_PHRASES) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w in set(words(text)) if len(w) > 3 and w not in _DULL and not w.isdigit())
    return [w for w, _ in counts.most_common(limit)]


class EpisodicManager(MemoryManager):
    kind, who = "episodic", "episodic-manager"

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._recent: list[Memory] | None = None

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        open_episode = self._open_episode(candidate, batch)
        if open_episode is None:
            return self.add(candidate, "screen activity in a new window")
        assert candidate.ended is not None
        open_episode.ended = max(open_episode.ended or open_episode.time, candidate.ended)
        phrases = list(open_episode.fields.get("key_phrases") or [])
        open_episode.fields["key_phrases"] = (phrases + [p for p in candidate.fields["key_phrases"]
                                                          if p not in phrases])[:_KEY_PHRASES * 2]
        return self.change(MERGE, open_episode, candidate, "the same window, still in use")

    def _open_episode(self, candidate: Candidate, batch: Batch) -> Memory | None:
        for memory in [*batch.of_kind("episodic"), *(batch.current(m) for m in self._recent_screen(candidate.time))]:
            if memory.source_kind != "screen" or (memory.app, memory.title) != (candidate.app, candidate.title):
                continue
            end = memory.ended or memory.time
            if memory.time <= candidate.time and candidate.time - end <= GAP:
                return memory
        return None

    def _recent_screen(self, around: datetime) -> list[Memory]:
        if self._recent is None:
            self._recent = [m for m in self.store.list_range(since=around - timedelta(hours=12), kinds=["episodic"],
                                                             limit=5000) if m.source_kind == "screen"]
        return self._recent
