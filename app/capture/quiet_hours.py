"""Quiet hours: times of the week when capture is off by the user's own schedule.

One range per line, local time: "18:00-08:00" (every day, across midnight), "Sat,Sun 00:00-24:00"
(all weekend), "Mon-Fri 12:00-13:00" (lunch on weekdays). A range that crosses midnight belongs to
the day it starts on.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(?:(?P<days>[A-Za-z,\-\s]+?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
_EXAMPLE = "use ranges like 18:00-08:00 or Sat,Sun 00:00-24:00"


@dataclass(frozen=True)
class QuietRange:
    days: frozenset[int]   # 0 = Monday
    start: int             # minutes after midnight
    end: int               # minutes after midnight, up to 24:00; <= start means it ends the next day

    def covers(self, moment: datetime) -> bool:
        minute, day = moment.hour * 60 + moment.minute, moment.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or ((day - 1) % 7 in self.days and minute < self.end)


def parse_range(text: str) -> QuietRange:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"quiet hours {text!r}: {_EXAMPLE}")
    start, end = _minutes(match["start"], text), _minutes(match["end"], text)
    if start == end:
        raise ValueError(f"quiet hours {text!r} start and end at the same time; {_EXAMPLE}")
    return QuietRange(_days(match["days"], text) if match["days"] else frozenset(range(7)), start, end)


def parse_schedule(lines: Iterable[str]) -> tuple[QuietRange, ...]:
    return tuple(parse_range(line) for line in lines if line.strip())


def is_quiet(ranges: Iterable[QuietRange], moment: datetime) -> bool:
    """Whether `moment` (a local time) falls in one of the ranges."""
    return any(r.covers(moment) for r in ranges)


def _minutes(clock: str, text: str) -> int:
    hour, minute = (int(p) for p in clock.split(":"))
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise ValueError(f"quiet hours {text!r}: {clock} is not a time of day")
    return hour * 60 + minute


def _days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in (p.strip().lower() for p in spec.split(",") if p.strip()):
        ends = [e.strip()[:3] for e in part.split("-")]
        if any(e not in DAYS for e in ends) or len(ends) > 2:
            raise ValueError(f"quiet hours {text!r}: {part!r} is not a day (Mon, Tue, … Sun)")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)
