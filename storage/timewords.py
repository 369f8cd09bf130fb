"""Time words in a search query -> a time filter.

`parse_time_words("what did I read last week", now)` returns the query without
the phrase ("what did I read") and the half-open interval [since, until) it
stands for, so the store can filter by time and the embedding search only sees
the words that carry meaning. Decisions, all relative to the aware `now`:

* Calendar arithmetic is done in now's zone: a day runs from local midnight to
  local midnight, so across a DST change "yesterday" lasts 23 or 25 hours.
  Minutes and hours are elapsed time. Weeks start on Monday (ISO).
* Periods not yet over ("today", "this week", "tonight") run to their end.
* "Monday", "on/last/past Monday": the latest Monday strictly before today (a
  week ago on a Monday). "this Monday": the Monday of the current week.
* "in/since March": the latest March that has begun; "last March": the latest
  March before the current month. A month name alone is never taken ("call
  April", "what may I need"): it needs "in", "during", "since", "between",
  "last", a day or a year; abbreviations ("Mar") need a day or a year.
* "March 5", "the 5th of March": the latest such date not after today. ISO
  "2024-03-05" is read; "5/3" is not, it is ambiguous. "in 2024" is a year.
* "N minutes/hours ago": [now - 1.5N, now - 0.5N) units, vaguer as N grows.
  "N days/months/years ago": that calendar day/month/year. "N weeks ago": the
  seven days centred on the day 7N days ago.
* "past N days", "last N hours", "in the last week", "the past hour": rolling
  [now - N units, now). "last week/month/year" alone is the calendar one.
* Morning 05-12, afternoon 12-18, evening 18-24, night 18-05 (next day).
* "since X": start of X until now; "before X": until the start of X; "after
  X": from the end of X, open; "between X and Y": start of X to end of Y.
* Only the first phrase (leftmost, then longest) counts; later ones stay in the
  text. A preposition before it ("on", "in", "from", ...) goes with it. With
  no phrase the query comes back unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable

__all__ = ["TimeQuery", "parse_time_words"]


@dataclass(frozen=True)
class TimeQuery:
    text: str  # the query with the time words removed, whitespace collapsed
    since: datetime | None  # inclusive, in now's timezone
    until: datetime | None  # exclusive, in now's timezone
    phrase: str | None  # the recognised phrase as written, e.g. "last week"


_Span = tuple[datetime, datetime]
_Handler = Callable[[re.Match[str], datetime, str], _Span | None]

_MONTHS = {name: i + 1 for i, name in enumerate(
    "january february march april may june july august september october"
    " november december".split())}
_MONTH_ABBR = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
               "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_NUMBERS = {w: i + 1 for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBERS.update(a=1, an=1)


def _alt(words: Iterable[str]) -> str:
    # Longest first, so "march" wins over "mar" and "sept" over "sep".
    return "|".join(sorted(words, key=len, reverse=True))


_MON = rf"(?P<mon>{_alt([*_MONTHS, *_MONTH_ABBR])})"
_YEAR = r"(?P<year>19[7-9]\d|20\d\d)"
_DAY = r"(?P<day>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_NUM = rf"(?P<n>\d{{1,4}}|{_alt(_NUMBERS)})"
_UNIT = r"(?P<unit>min(?:ute)?s?|h(?:ou)?rs?|days?|weeks?|months?|years?)"
# A phrase must end at a word end; an apostrophe counts as part of the word so
# that "April's" or "Monday's" is not cut in half ...
_END = r"(?![\w'’])"
# ... except where a possessive is clearly still temporal ("yesterday's notes").
_POSS = r"(?:['’]s)?" + _END
# Prepositions removed together with the phrase, so none is left dangling.
_LEAD = r"(?:(?P<lead>since|before|after|on|in|during|from|for|over|within)\s+)?"
_BOUNDS = {"since", "before", "after"}  # leads that change the interval
_MONTH_GATES = {"in", "during", "since", "between"}  # make a bare month temporal
_YEAR_GATES = _MONTH_GATES | {"before", "after"}  # make a bare year temporal
_PARTS = {"morning": (5, 12), "afternoon": (12, 18), "evening": (18, 24), "night": (18, 29)}

_RULES: list[tuple[re.Pattern[str], _Handler]] = []


def _rule(core: str) -> Callable[[_Handler], _Handler]:
    """Register a handler for `core`, optionally preceded by a preposition."""
    def register(handler: _Handler) -> _Handler:
        _RULES.append((re.compile(f"{_LEAD}(?:{core})", re.IGNORECASE), handler))
        return handler
    return register


def _norm(wall: datetime, now: datetime) -> datetime:
    # A UTC round trip moves a wall time that a DST jump skips to a real instant
    # and gives it the right offset.
    return wall.astimezone(timezone.utc).astimezone(now.tzinfo)


def _at(day: date, now: datetime, hour: int = 0) -> datetime:
    """`hour` o'clock local time on `day`; hours past 23 run into the next day."""
    wall = datetime.combine(day + timedelta(days=hour // 24), time(hour % 24), now.tzinfo)
    return _norm(wall, now)


def _elapsed(now: datetime, delta: timedelta) -> datetime:
    # Aware arithmetic within one tzinfo is wall-clock arithmetic; "3 hours ago"
    # means real elapsed time, so subtract in UTC.
    return (now.astimezone(timezone.utc) - delta).astimezone(now.tzinfo)


def _days(first: date, count: int, now: datetime) -> _Span:
    return _at(first, now), _at(first + timedelta(days=count), now)


def _first_of_month(year: int, month: int) -> date:
    """The first of `month`, which may lie outside 1..12 and carry into the year."""
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _months(year: int, month: int, count: int, now: datetime) -> _Span:
    return (_at(_first_of_month(year, month), now),
            _at(_first_of_month(year, month + count), now))


def _period(unit: str, back: int, now: datetime) -> _Span:
    """The calendar day, (ISO) week, month or year `back` units before this one."""
    today = now.date()
    if unit == "day":
        return _days(today - timedelta(days=back), 1, now)
    if unit == "week":
        return _days(today - timedelta(days=today.weekday() + 7 * back), 7, now)
    if unit == "month":
        return _months(today.year, today.month - back, 1, now)
    return _months(today.year - back, 1, 12, now)


def _month_number(name: str) -> int:
    name = name.lower()
    return int(name) if name.isdigit() else _MONTHS.get(name) or _MONTH_ABBR[name]


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word.lower()]


def _clock(unit: str, n: int) -> timedelta:
    return timedelta(minutes=n) if unit == "minute" else timedelta(hours=n)


def _unit(word: str) -> str:
    # _UNIT only lets these spellings through; two letters tell them apart.
    return {"mi": "minute", "ho": "hour", "hr": "hour", "da": "day", "we": "week",
            "mo": "month", "ye": "year"}[word[:2].lower()]


@_rule(r"(?P<word>(?:the\s+)?day\s+before\s+yesterday|yesterday|today|tonight|this|last)"
       r"(?:\s+(?P<part>morning|afternoon|evening|night))?" + _POSS)
def _day_word(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    word, part = m["word"].lower(), (m["part"] or "").lower()
    # "this"/"last" only belong here with a part of the day ("this week" is
    # elsewhere), and "tonight" already is one.
    if (word == "this" and part in ("", "night")) or (word == "last" and part != "night") \
            or (word == "tonight" and part):
        return None
    # Anything else is "(the) day before yesterday".
    back = {"today": 0, "tonight": 0, "this": 0, "yesterday": 1, "last": 1}.get(word, 2)
    if not (part := "night" if word == "tonight" else part):
        return _period("day", back, now)
    day, (start, end) = now.date() - timedelta(days=back), _PARTS[part]
    return _at(day, now, start), _at(day, now, end)


@_rule(r"(?P<rel>this|last|previous)\s+(?P<unit>week|month|year)" + _POSS)
def _calendar(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    return _period(m["unit"].lower(), int(m["rel"].lower() != "this"), now)


@_rule(rf"(?:(?P<rel>this|last|past)\s+)?(?P<wd>{_alt(_WEEKDAYS)})" + _POSS)
def _weekday(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    today, target = now.date(), _WEEKDAYS.index(m["wd"].lower())
    if (m["rel"] or "").lower() == "this":
        return _days(today + timedelta(days=target - today.weekday()), 1, now)
    back = (today.weekday() - target - 1) % 7 + 1  # 1..7: strictly before today
    return _days(today - timedelta(days=back), 1, now)


@_rule(rf"(?:(?P<rel>last)\s+)?{_MON}(?:,?\s+{_YEAR})?" + _END)
def _month(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    if m["year"]:
        return _months(int(m["year"]), _month_number(m["mon"]), 1, now)
    # Without a year only a full name counts, and only after a word that makes
    # it temporal: "May", "April" and "June" are also verbs and names.
    month, today = _MONTHS.get(m["mon"].lower()), now.date()
    if month is None or not (m["rel"] or lead in _MONTH_GATES):
        return None
    started = month < today.month if m["rel"] else month <= today.month
    return _months(today.year if started else today.year - 1, month, 1, now)


@_rule(rf"{_MON}\s+{_DAY}(?:,?\s+{_YEAR})?" + _END)
@_rule(rf"{_YEAR}-(?P<mon>\d\d)-(?P<day>\d\d)(?![\w-])")  # ISO 8601
@_rule(rf"(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MON}(?:,?\s+{_YEAR})?" + _END)
def _month_day(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    month, day, today = _month_number(m["mon"]), int(m["day"]), now.date()
    # Without a year: the most recent such date not after today (Feb 29 may
    # need to look back a few years).
    years = [int(m["year"])] if m["year"] else range(today.year, today.year - 8, -1)
    for year in years:
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if m["year"] or found <= today:
            return _days(found, 1, now)
    return None


@_rule(_YEAR + _END)
def _year(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    # A bare number like 2024 is only a year after "in", "since", ...
    return _months(int(m["year"]), 1, 12, now) if lead in _YEAR_GATES else None


@_rule(rf"{_NUM}\s+{_UNIT}\s+ago" + _END)
def _ago(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    n, unit = _count(m["n"]), _unit(m["unit"])
    if n < 1:
        return None
    if unit in ("minute", "hour"):
        size = _clock(unit, n)
        return _elapsed(now, size * 3 / 2), _elapsed(now, size / 2)
    if unit == "week":  # centred: on a Monday "a week ago" is not just the week before
        return _days(now.date() - timedelta(days=7 * n + 3), 7, now)
    return _period(unit, n, now)


@_rule(rf"(?P<the>the\s+)?(?P<kw>past|last)\s+(?:{_NUM}\s+)?{_UNIT}" + _END)
def _rolling(m: re.Match[str], now: datetime, lead: str) -> _Span | None:
    unit = _unit(m["unit"])
    if m["n"] is None:
        if m["unit"].lower().endswith("s"):  # "the past days": no amount to go on
            return None
        if not m["the"] and m["kw"].lower() == "last" and unit in ("week", "month", "year"):
            return None  # "last week" is the previous calendar week (_calendar)
    n = _count(m["n"]) if m["n"] else 1
    if n < 1:
        return None
    if unit in ("minute", "hour"):
        return _elapsed(now, _clock(unit, n)), now
    if unit in ("day", "week"):  # same wall time N days back, not N * 24 hours
        return _norm(now - timedelta(days=n * (7 if unit == "week" else 1)), now), now
    # Months/years: same wall time and day of month, clamped to the month's length.
    first = _first_of_month(now.year, now.month - n * (1 if unit == "month" else 12))
    last_day = (_first_of_month(first.year, first.month + 1) - first).days
    back = now.replace(year=first.year, month=first.month, day=min(now.day, last_day))
    return _norm(back, now), now


_Found = tuple[int, int, str, _Span]  # (end, start of the phrase proper, lead, span)


def _best_at(text: str, pos: int, now: datetime, context: str | None = None) -> _Found | None:
    """The longest rule match starting at `pos`, if any handler accepts it.

    `context` is the word before an endpoint of "between X and Y"; it stands in
    for the lead (which an endpoint must not have).
    """
    best: _Found | None = None
    for pattern, handler in _RULES:
        m = pattern.match(text, pos)
        if m is None or (best is not None and m.end() <= best[0]):
            continue
        lead = (m["lead"] or "").lower()
        if context is not None and lead:
            continue
        try:
            span = handler(m, now, context or lead)
        except (ValueError, OverflowError):  # e.g. "2024-02-30", "5000 years ago"
            span = None
        if span is not None:
            best = (m.end(), m.end("lead") if lead else pos, lead, span)
    return best


_BETWEEN = re.compile(r"between\s+", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def _between(text: str, pos: int, now: datetime) -> _Found | None:
    m = _BETWEEN.match(text, pos)
    first = _best_at(text, m.end(), now, "between") if m else None
    joint = _AND.match(text, first[0]) if first else None
    second = _best_at(text, joint.end(), now, "between") if joint else None
    if first is None or second is None:
        return None
    return second[0], pos, "", (first[3][0], second[3][1])


def _join(left: str, right: str) -> str:
    """Glue the text on both sides of a removed phrase back together."""
    left, right = left.rstrip(), right.lstrip()
    if not left:
        right = right.lstrip(",;: ")  # "Yesterday, what ..." -> "what ..."
    elif right[:1] in ("", "?", "!", ".", ",", ";", ":"):
        # No space before punctuation, and no comma that led into the phrase:
        # "what did I read, yesterday?" -> "what did I read?"
        return " ".join((left.rstrip(",") + right).split())
    return " ".join(f"{left} {right}".split())


def parse_time_words(query: str, now: datetime) -> TimeQuery:
    """Find the first time phrase in `query` and turn it into [since, until)."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    # Phrases start at word starts; "it's" must not offer "s" as one.
    for word in re.finditer(r"(?<![\w'’])\w", query):
        start = word.start()
        found = _between(query, start, now) or _best_at(query, start, now)
        if found is None:
            continue
        end, core, lead, (since, until) = found
        bounded: tuple[datetime | None, datetime | None] = (since, until)
        if lead == "since":
            bounded = (since, now)
        elif lead == "before":
            bounded = (None, since)
        elif lead == "after":
            bounded = (until, None)
        phrase = query[start if lead in _BOUNDS else core:end]
        phrase = re.sub(r"['’]s$", "", phrase.strip())
        return TimeQuery(_join(query[:start], query[end:]), *bounded, phrase)
    return TimeQuery(query, None, None, None)
