"""Table-driven tests for storage.timewords with a fixed clock.

Expected instants are written as ISO strings so that both the local wall time
and the UTC offset are checked (two aware datetimes in the same zone compare by
wall time only, which would hide a wrong offset around DST).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest

from storage.timewords import TimeQuery, parse_time_words

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=BERLIN)  # a Wednesday, CET (+01:00)
NEW_YEAR = datetime(2026, 1, 2, 9, 0, tzinfo=BERLIN)  # a Friday
SPRING = datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)  # Monday after clocks went forward
AUTUMN = datetime(2026, 10, 26, 10, 0, tzinfo=BERLIN)  # Monday after clocks went back
DST_NIGHT = datetime(2026, 3, 29, 4, 0, tzinfo=BERLIN)  # two real hours after midnight


class Case(NamedTuple):
    query: str
    text: str
    since: str | None
    until: str | None
    phrase: str | None = None
    now: datetime = NOW


def day(iso: str) -> str:
    return iso + "T00:00:00+01:00"


CASES = [
    # Days and parts of days.
    Case("what did I do today", "what did I do", day("2026-11-25"), day("2026-11-26"), "today"),
    Case("yesterday", "", day("2026-11-24"), day("2026-11-25"), "yesterday"),
    Case("notes from the day before yesterday", "notes",
         day("2026-11-23"), day("2026-11-24"), "the day before yesterday"),
    Case("emails this morning", "emails",
         "2026-11-25T05:00:00+01:00", "2026-11-25T12:00:00+01:00", "this morning"),
    Case("this afternoon meeting", "meeting",
         "2026-11-25T12:00:00+01:00", "2026-11-25T18:00:00+01:00", "this afternoon"),
    Case("this evening", "", "2026-11-25T18:00:00+01:00", day("2026-11-26"), "this evening"),
    Case("what did I watch last night", "what did I watch",
         "2026-11-24T18:00:00+01:00", "2026-11-25T05:00:00+01:00", "last night"),
    Case("tonight", "", "2026-11-25T18:00:00+01:00", "2026-11-26T05:00:00+01:00", "tonight"),
    Case("yesterday afternoon", "",
         "2026-11-24T12:00:00+01:00", "2026-11-24T18:00:00+01:00", "yesterday afternoon"),
    # Calendar weeks, months, years.
    Case("this week", "", day("2026-11-23"), day("2026-11-30"), "this week"),
    Case("slides from last week", "slides", day("2026-11-16"), day("2026-11-23"), "last week"),
    Case("LAST WEEK", "", day("2026-11-16"), day("2026-11-23"), "LAST WEEK"),
    Case("this month", "", day("2026-11-01"), day("2026-12-01"), "this month"),
    # October started in summer time: the offsets differ.
    Case("last month invoices", "invoices",
         "2026-10-01T00:00:00+02:00", day("2026-11-01"), "last month"),
    Case("this year", "", day("2026-01-01"), day("2027-01-01"), "this year"),
    Case("last year", "", day("2025-01-01"), day("2026-01-01"), "last year"),
    # Weekdays: strictly before today.
    Case("what did I do on Monday", "what did I do", day("2026-11-23"), day("2026-11-24"), "Monday"),
    Case("Monday", "", day("2026-11-23"), day("2026-11-24"), "Monday"),
    Case("last Tuesday", "", day("2026-11-24"), day("2026-11-25"), "last Tuesday"),
    Case("on Wednesday", "", day("2026-11-18"), day("2026-11-19"), "Wednesday"),
    Case("on Friday", "", day("2026-11-20"), day("2026-11-21"), "Friday"),
    Case("this Monday", "", day("2026-11-23"), day("2026-11-24"), "this Monday"),
    Case("Monday's standup", "standup", day("2026-11-23"), day("2026-11-24"), "Monday"),
    # Months: the latest one that has begun.
    Case("in March", "", day("2026-03-01"), "2026-04-01T00:00:00+02:00", "March"),
    Case("in December", "", day("2025-12-01"), day("2026-01-01"), "December"),
    Case("in November", "", day("2026-11-01"), day("2026-12-01"), "November"),
    Case("last November", "", day("2025-11-01"), day("2025-12-01"), "last November"),
    Case("trip in March 2024", "trip", day("2024-03-01"), "2024-04-01T00:00:00+02:00",
         "March 2024"),
    Case("in 2024", "", day("2024-01-01"), day("2025-01-01"), "2024"),
    # "since X" runs to now; "before"/"after" leave one end open.
    Case("since March", "", day("2026-03-01"), NOW.isoformat(), "since March"),
    Case("since Monday", "", day("2026-11-23"), NOW.isoformat(), "since Monday"),
    Case("since yesterday", "", day("2026-11-24"), NOW.isoformat(), "since yesterday"),
    Case("before yesterday", "", None, day("2026-11-24"), "before yesterday"),
    Case("after Monday", "", day("2026-11-24"), None, "after Monday"),
    # Dates.
    Case("2024-03-05", "", day("2024-03-05"), day("2024-03-06"), "2024-03-05"),
    Case("on 5 March", "", day("2026-03-05"), day("2026-03-06"), "5 March"),
    Case("March 5", "", day("2026-03-05"), day("2026-03-06"), "March 5"),
    Case("March 5th, 2024", "", day("2024-03-05"), day("2024-03-06"), "March 5th, 2024"),
    Case("the 5th of December", "", day("2025-12-05"), day("2025-12-06"),
         "the 5th of December"),
    Case("Feb 29", "", day("2024-02-29"), day("2024-03-01"), "Feb 29"),
    Case("between March 1 and March 5", "", day("2026-03-01"), day("2026-03-06"),
         "between March 1 and March 5"),
    # "... ago": a window around that moment.
    Case("10 minutes ago", "", "2026-11-25T15:15:00+01:00", "2026-11-25T15:25:00+01:00",
         "10 minutes ago"),
    Case("an hour ago", "", "2026-11-25T14:00:00+01:00", "2026-11-25T15:00:00+01:00",
         "an hour ago"),
    Case("3 hours ago", "", "2026-11-25T11:00:00+01:00", "2026-11-25T14:00:00+01:00",
         "3 hours ago"),
    Case("2 days ago", "", day("2026-11-23"), day("2026-11-24"), "2 days ago"),
    Case("a week ago", "", day("2026-11-15"), day("2026-11-22"), "a week ago"),
    Case("three months ago", "", "2026-08-01T00:00:00+02:00", "2026-09-01T00:00:00+02:00",
         "three months ago"),
    # Rolling windows ending now.
    Case("past 3 days", "", "2026-11-22T15:30:00+01:00", NOW.isoformat(), "past 3 days"),
    Case("in the last 24 hours", "", "2026-11-24T15:30:00+01:00", NOW.isoformat(),
         "the last 24 hours"),
    Case("last 2 weeks", "", "2026-11-11T15:30:00+01:00", NOW.isoformat(), "last 2 weeks"),
    Case("the past hour", "", "2026-11-25T14:30:00+01:00", NOW.isoformat(), "the past hour"),
    Case("in the past week", "", "2026-11-18T15:30:00+01:00", NOW.isoformat(), "the past week"),
    Case("last 3 months", "", "2026-08-25T15:30:00+02:00", NOW.isoformat(), "last 3 months"),
    # Text around the phrase.
    Case("what did I do on Monday?", "what did I do?", day("2026-11-23"), day("2026-11-24"),
         "Monday"),
    Case("Yesterday, what did I read?", "what did I read?", day("2026-11-24"),
         day("2026-11-25"), "Yesterday"),
    Case("notes   from  yesterday   about x", "notes about x", day("2026-11-24"),
         day("2026-11-25"), "yesterday"),
    Case("yesterday and last week", "and last week", day("2026-11-24"), day("2026-11-25"),
         "yesterday"),
    Case("call April on Monday", "call April", day("2026-11-23"), day("2026-11-24"), "Monday"),
    Case("what did April say in March", "what did April say", day("2026-03-01"),
         "2026-04-01T00:00:00+02:00", "March"),
    # Across a year boundary.
    Case("last month", "", day("2025-12-01"), day("2026-01-01"), "last month", NEW_YEAR),
    Case("last week", "", day("2025-12-22"), day("2025-12-29"), "last week", NEW_YEAR),
    Case("this week", "", day("2025-12-29"), day("2026-01-05"), "this week", NEW_YEAR),
    Case("in December", "", day("2025-12-01"), day("2026-01-01"), "December", NEW_YEAR),
    Case("yesterday", "", day("2026-01-01"), day("2026-01-02"), "yesterday", NEW_YEAR),
    Case("the 31st of December", "", day("2025-12-31"), day("2026-01-01"),
         "the 31st of December", NEW_YEAR),
    # Across DST changes (Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00).
    Case("yesterday", "", day("2026-03-29"), "2026-03-30T00:00:00+02:00", "yesterday", SPRING),
    Case("on Monday", "", day("2026-03-23"), day("2026-03-24"), "Monday", SPRING),
    Case("yesterday", "", "2026-10-25T00:00:00+02:00", day("2026-10-26"), "yesterday", AUTUMN),
    Case("last night", "", "2026-10-25T18:00:00+01:00", "2026-10-26T05:00:00+01:00",
         "last night", AUTUMN),
    # Elapsed hours, not wall-clock hours: 02:00-03:00 does not exist that night.
    Case("3 hours ago", "", "2026-03-28T22:30:00+01:00", "2026-03-29T01:30:00+01:00",
         "3 hours ago", DST_NIGHT),
]

NEGATIVE = [
    "what may I need",  # "may" the verb
    "this may be important",
    "call April about the invoice",  # a name
    "photos from May",  # a name after "from": too risky to take
    "second place trophy",
    "wait a minute",
    "a second ago",  # seconds are not supported
    "March budget",  # a bare month stays
    "in jan",  # abbreviations need a day or year
    "2024 report",  # a bare number is not a year
    "standup notes mondays",
    "April 31",  # no such date
    "2024-02-30",
    "0 days ago",
    "the past days",
    "",
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.query}@{c.now:%m-%d}" for c in CASES])
def test_phrase(case: Case) -> None:
    result = parse_time_words(case.query, case.now)
    since = result.since.isoformat() if result.since else None
    until = result.until.isoformat() if result.until else None
    assert (result.text, since, until, result.phrase) == (
        case.text, case.since, case.until, case.phrase)


@pytest.mark.parametrize("query", NEGATIVE)
def test_no_time_words(query: str) -> None:
    assert parse_time_words(query, NOW) == TimeQuery(query, None, None, None)


def real_hours(result: TimeQuery) -> float:
    assert result.since is not None and result.until is not None
    return (result.until.timestamp() - result.since.timestamp()) / 3600


def test_yesterday_is_a_calendar_day_across_dst() -> None:
    # Subtracting two datetimes in the same zone would say 24h; timestamps don't lie.
    assert real_hours(parse_time_words("yesterday", SPRING)) == 23
    assert real_hours(parse_time_words("yesterday", AUTUMN)) == 25
    assert real_hours(parse_time_words("yesterday", NOW)) == 24


def test_results_are_in_nows_zone() -> None:
    result = parse_time_words("last week", NOW)
    assert result.since is not None and result.until is not None
    assert result.since.tzinfo is BERLIN and result.until.tzinfo is BERLIN
    fixed = datetime(2026, 11, 25, 15, 30, tzinfo=timezone(timedelta(hours=-5)))
    result = parse_time_words("yesterday", fixed)
    assert result.since == datetime(2026, 11, 24, tzinfo=fixed.tzinfo)
    assert result.until == datetime(2026, 11, 25, tzinfo=fixed.tzinfo)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_time_words("yesterday", datetime(2026, 11, 25, 15, 30))
