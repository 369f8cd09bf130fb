"""Keeping captured frames within the user's budget: size, age, and "text only after N days".

Always oldest first, always through the store's delete, so what retention
removes is as gone from disk as what the user forgets by hand (once the upkeep
that follows it in the hourly job, `app.capture.service.hourly_upkeep`, has run).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from storage.blind_index import words


@dataclass(frozen=True)
class RetentionPolicy:
    max_bytes: int = 10 * 10**9
    max_age_days: int = 365          # 0 = keep forever
    text_only_after_days: int = 0    # 0 = keep images as long as the frame


@dataclass
class RetentionReport:
    frames_removed: int = 0
    images_dropped: int = 0


def enforce(store: Any, policy: RetentionPolicy, now: datetime | None = None, batch: int = 200) -> RetentionReport:
    """Apply the policy; `batch` frames are removed at a time while over the size budget."""
    now = now or datetime.now(timezone.utc)
    report = RetentionReport()
    if policy.max_age_days:
        report.frames_removed += store.delete_range(datetime.fromtimestamp(0, timezone.utc),
                                                    now - timedelta(days=policy.max_age_days), kinds=["frame"])
    if policy.text_only_after_days:
        report.images_dropped += _drop_images(store, now - timedelta(days=policy.text_only_after_days))
    while store.blobs.bytes_on_disk() > policy.max_bytes:
        oldest = store.list_range(kinds=["frame"], limit=batch)
        if not oldest:
            break
        report.frames_removed += store.delete([m.id for m in oldest])
    return report


# Consecutive text-only frames are one screen when at least this share of the smaller one's words
# are on both, the same window shows them, and no more than SPAN_GAP passed between them. Words, not
# lines: OCR reads the same screen a little differently each time (a letter, where a line breaks), and
# on the ScreenAgent replay only 67 of 198 neighbours shared half their lines exactly, while 108 shared
# 70% of their words (a page scrolled or partly changed, the rest still on screen).
SAME_SCREEN_WORDS = 0.7
SPAN_GAP = timedelta(minutes=5)
_PICTURE_FIELDS = ("image_id", "thumb_id", "boxes", "changed", "previous", "key", "patches", "size", "moves")


def _drop_images(store: Any, before: datetime) -> int:
    """Frames captured before `before` keep their text only; a run of them showing the same screen
    (a document being typed, a page being read) becomes one frame spanning the run.

    Text-only history needs a row per screen seen, not per three seconds: the word boxes only served
    to highlight hits on a picture that is gone, and the run's rows repeated the same text. Frames the
    agents have not taken in yet, or whose text is not read, wait for a later pass."""
    ready = [f for f in store.list_range(until=before, kinds=["frame"], limit=100_000)
             if (f.fields.get("image_id") or f.fields.get("thumb_id")) and not f.text_pending
             and f.digested is not None]
    if not ready:
        return 0
    image_ids = [f.fields[k] for f in ready for k in ("image_id", "thumb_id") if f.fields.get(k)]
    # Later screens stored as patches over these pictures are rebased before the pictures go.
    image_ids += store.release_pictures([f.id for f in ready])
    spans, absorbed, moved = [], [], dict[str, str]()
    for run in screen_runs(ready):
        spans.append(merge_run(run))
        absorbed += [f.id for f in run[1:]]
        moved.update((f.id, run[0].id) for f in run[1:])
    # The spans first, in one commit: a crash before the delete leaves extra rows, never lost text.
    store.save(spans, replace_only=[s.id for s in spans])
    store.repoint_sources(moved, since=ready[0].time)  # memories made from a merged screen follow it
    # The old row versions still name the image ids until the upkeep that follows in the hourly job.
    store.delete(absorbed)
    store.blobs.delete(image_ids)
    return len(ready)


def screen_runs(frames: list[Any]) -> list[list[Any]]:
    """Frames (oldest first) grouped into runs of the same screen."""
    runs: list[list[Any]] = []
    for frame in frames:
        last = runs[-1][-1] if runs else None
        if last is not None and _same_screen(last, frame):
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs


def _same_screen(a: Any, b: Any) -> bool:
    if (a.fields.get("monitor"), a.app, a.title) != (b.fields.get("monitor"), b.app, b.title):
        return False
    if b.time - (a.ended or a.time) > SPAN_GAP:
        return False
    words_a, words_b = set(words(a.text)), set(words(b.text))
    if not words_a or not words_b:
        return not words_a and not words_b
    return len(words_a & words_b) >= SAME_SCREEN_WORDS * min(len(words_a), len(words_b))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def merge_run(run: list[Any]) -> Any:
    """The run's first frame, now spanning until the last one: the last screen's lines (its final
    state), then the lines of earlier screens holding a word not kept yet, in the order they first
    appeared. (A line read again with a letter changed adds nothing a search could find.)"""
    first, last = run[0], run[-1]
    lines = _lines(last.text)
    seen = set(words(last.text))
    for frame in run[:-1]:
        for line in _lines(frame.text):
            new = set(words(line)) - seen
            if new:
                seen |= new
                lines.append(line)
    first.text = "\n".join(lines)
    first.ended = last.ended or last.time if len(run) > 1 else first.ended
    fields = {k: v for k, v in first.fields.items() if k not in _PICTURE_FIELDS}
    fields["screens"] = sum(f.fields.get("screens", 1) for f in run)
    first.fields = fields
    first.note("retention", f"image dropped, text kept ({len(run)} screens)" if len(run) > 1 else "image dropped, text kept")
    return first
