"""Keeping captured frames within the user's budget: size, age, and "text only after N days".

Always oldest first, always through the store's delete, so what retention
removes is as gone from disk as what the user forgets by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


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


def _drop_images(store: Any, before: datetime) -> int:
    dropped = 0
    for frame in store.list_range(until=before, kinds=["frame"], limit=100_000):
        image_ids = [frame.fields.get("image_id"), frame.fields.get("thumb_id")]
        if not any(image_ids) or frame.text_pending:
            continue  # already text only, or its text is not read yet
        frame.fields = {**frame.fields, "image_id": None, "thumb_id": None}
        store.update(frame, who="retention", what="image dropped, text kept")
        store.blobs.delete([i for i in image_ids if i])
        dropped += 1
    if dropped:
        store.purge()  # the old row versions still name the image ids
    return dropped
