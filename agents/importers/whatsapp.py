"""WhatsApp "Export chat" text files, as Android and iOS phones write them.

    Android: 12/31/23, 9:41 PM - Name: text
    iOS:     [31/12/2023, 21:41:07] Name: text

Both come in 12- and 24-hour clocks and with the day or the month first,
following the phone's locale, and the file does not say which. It is decided
per file from all of its dates:
1. a four-digit first field: year first (2023-12-31);
2. any first field above 12: day first; else any second field above 12: month first;
3. else the reading under which the dates run forward more often (a chat is in
   time order), and on a tie day first, the order of most locales.
Times are wall-clock times of the exporting phone, read in the zone given.

A message's text may hold a line that looks like a header ("02/01/2026, 10:01 -
Ana: My name is ..."), typed or pasted by whoever sent it, to speak as someone
else. A line starts a message only if the file's own grammar allows it there:
- it has the file's header format (its first line's: one phone writes one format);
- it is not inside a quote (“...”, «...») its message opened and closes after it;
- its time keeps the file in time order: not before the message it would end, and
  not after the next header when that one is in order (a single header out of step
  with both neighbours is inside a message; a real one out of step is rare, and
  then costs only whose line it is, never the user's: see extract_core).
A forgery that passes all three is indistinguishable from a real line; core memory
then keeps another chat's facts until the user confirms (agents/managers/core.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from storage.memory import Memory, TimeOutOfRange

from agents.importers.files import ImportFailed, read_text
from agents.importers.turns import Messages, local_time

HELP = "WhatsApp 'Export chat' .txt (Android or iOS; --tz for the phone's time zone)"

_HEADER = re.compile(
    r"(?P<open>\[)?(?P<a>\d{1,4})[./-](?P<b>\d{1,2})[./-](?P<c>\d{1,4}),?[ \u00a0]"
    r"(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?"
    r"(?:[ \u00a0\u202f]?(?P<ampm>[AaPp])\.?[ \u00a0]?[Mm]\.?)?"
    r"(?(open)\] | - )(?P<rest>.*)")
_MARKS = "\u200e\u200f"  # direction marks WhatsApp puts around names, media and notices
# Android's stand-in for a photo or file, in the phone's language: "<Media omitted>".
_PLACEHOLDER = re.compile(r"<[^<>\n]+>")
_DELETED = ("This message was deleted", "You deleted this message", "null")
_EDITED = "<This message was edited>"


@dataclass
class _Entry:
    line: int
    date: tuple[int, int, int]    # the three numbers as written; their order is decided per file
    clock: tuple[int, int, int]   # 24-hour
    speaker: str | None           # None: a notice from WhatsApp itself
    lines: list[str] = field(default_factory=list)


def parse(path: Path, tz: tzinfo | None = None) -> list[Memory]:
    entries, order = _entries(path, read_text(path))
    title = _title(path)
    messages = Messages(path, "whatsapp", "WhatsApp")
    for entry in entries:
        text = _message_text(entry)
        if entry.speaker is None or text is None:
            continue
        naive = _naive_time(path, entry.line, entry.date, entry.clock, order)
        try:
            time = local_time(naive, tz)
        except TimeOutOfRange as exc:
            raise ImportFailed(path, str(exc), line=entry.line) from None
        messages.add(conversation=title, title=title, key=naive.isoformat(), speaker=entry.speaker,
                     text=text, time=time)
    return messages.result(sort=False)  # file order: within a minute it is the only order there is


def _entries(path: Path, text: str) -> tuple[list[_Entry], str]:
    """The file's messages, and the order its dates are written in ("dmy", "mdy" or "ymd")."""
    lines = text.replace("\r\n", "\n").split("\n")
    headers = _outside_quotes(lines, _headers(path, lines))
    order = _date_order([_date(m) for m in headers.values()])
    headers = _in_time_order(path, headers, order)
    entries: list[_Entry] = []
    for number, line in enumerate(lines, 1):
        match = headers.get(number)
        if match:
            speaker, body = _split_speaker(match["rest"])
            entries.append(_Entry(number, _date(match), _clock(path, number, match), speaker, [body]))
        elif entries:
            entries[-1].lines.append(line)  # a message that spans several lines
    return entries, order


def _headers(path: Path, lines: list[str]) -> dict[int, re.Match[str]]:
    """Line number -> header, for the lines in the file's own header format (its first line's)."""
    headers: dict[int, re.Match[str]] = {}
    shape: tuple[str, int] | None = None
    for number, line in enumerate(lines, 1):
        match = _HEADER.fullmatch(line.lstrip(_MARKS))
        if match is None:
            if shape is None and line.strip(_MARKS + " \t"):
                raise ImportFailed(path, "no date at the start (is this a WhatsApp chat export?)", line=number)
            continue
        if shape is None:
            shape = _shape(match)
        elif _shape(match) != shape:
            continue  # another phone's format: text someone typed or pasted into a message
        if len(match["c"]) > 2 and int(match["c"]) < 100:  # "31/12/0000": year 0, not the 2-digit 00
            raise ImportFailed(path, str(TimeOutOfRange()), line=number)
        headers[number] = match
    return headers


def _shape(match: re.Match[str]) -> tuple[str, int]:
    """A header's format without its numbers: brackets, separators, seconds, AM/PM, year first or last and the
    year's digits. Not how many digits a day or month has: phones that do not pad them write 9/30 and 10/1."""
    head = match.string[:match.start("rest")].translate(_AM_PM)
    return re.sub(r"\d+", "9", head), len(match["c"]) + 10 * (len(match["a"]) == 4)


_AM_PM = str.maketrans("aPp", "AAA")
# A quote opened in a message and closed within this many lines holds any header-like lines in it.
_QUOTE_REACH = 50


def _outside_quotes(lines: list[str], headers: dict[int, re.Match[str]]) -> dict[int, re.Match[str]]:
    kept: dict[int, re.Match[str]] = {}
    quotes = _Quotes()
    for number, line in enumerate(lines, 1):
        match = headers.get(number)
        if match and not (quotes.open and quotes.closed_by(lines[number - 1:number - 1 + _QUOTE_REACH])):
            kept[number] = match
            quotes = _Quotes()
            quotes.read(match["rest"])
        else:
            quotes.read(line)
    return kept


@dataclass
class _Quotes:
    """How many quotes a message has opened and not yet closed: “...” and «...», whose marks say which
    end they are. Straight quotes do not count: one stray (5'11") would take the lines after it for a quote."""
    depth: int = 0

    @property
    def open(self) -> bool:
        return self.depth > 0

    def read(self, text: str) -> None:
        self.depth += text.count("“") + text.count("«") - text.count("”") - text.count("»")

    def closed_by(self, lines: list[str]) -> bool:
        """Whether the open quote closes within `lines` (a quote never closed is a stray mark, not a quote)."""
        ahead = _Quotes(self.depth)
        for line in lines:
            ahead.read(line)
            if not ahead.open:
                return True
        return False


def _in_time_order(path: Path, headers: dict[int, re.Match[str]], order: str) -> dict[int, re.Match[str]]:
    numbers = list(headers)
    times = {n: _naive_time(path, n, _date(headers[n]), _clock(path, n, headers[n]), order) for n in numbers}
    kept: dict[int, re.Match[str]] = {}
    previous: datetime | None = None
    for i, number in enumerate(numbers):
        time = times[number]
        following = times[numbers[i + 1]] if i + 1 < len(numbers) else None
        if previous is not None and (time < previous or following is not None and previous <= following < time):
            continue  # out of step with both neighbours: a line of the message before
        kept[number] = headers[number]
        previous = time
    return kept


def _date(match: re.Match[str]) -> tuple[int, int, int]:
    return int(match["a"]), int(match["b"]), int(match["c"])


def _split_speaker(rest: str) -> tuple[str | None, str]:
    name, sep, body = rest.partition(": ")
    name = name.strip(_MARKS + " ")
    # Notices have no "Name: " part, but some hold a colon inside quotes:
    # 'Anna changed the subject to "Trip: Rome"'. Names never hold quotes.
    if not sep or not name or any(q in name for q in '"“”'):
        return None, rest
    return name, body


def _clock(path: Path, number: int, match: re.Match[str]) -> tuple[int, int, int]:
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise ImportFailed(path, "not a valid 12-hour time", line=number)
        hour = hour % 12 + (12 if match["ampm"] in "Pp" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ImportFailed(path, "not a valid time", line=number)
    return hour, minute, second


def _date_order(dates: list[tuple[int, int, int]]) -> str:
    if any(a > 999 for a, _, _ in dates):
        return "ymd"
    if any(a > 12 for a, _, _ in dates):
        return "dmy"
    if any(b > 12 for _, b, _ in dates):
        return "mdy"
    backwards = {order: _steps_back([_ymd(d, order) for d in dates]) for order in ("dmy", "mdy")}
    return "mdy" if backwards["mdy"] < backwards["dmy"] else "dmy"


def _steps_back(dates: list[tuple[int, int, int]]) -> int:
    return sum(later < earlier for earlier, later in zip(dates, dates[1:]))


def _ymd(date: tuple[int, int, int], order: str) -> tuple[int, int, int]:
    a, b, c = date
    if order == "ymd":
        return a, b, c
    year = c + 2000 if c < 100 else c
    return (year, b, a) if order == "dmy" else (year, a, b)


def _naive_time(path: Path, line: int, date: tuple[int, int, int], clock: tuple[int, int, int],
                order: str) -> datetime:
    try:
        return datetime(*_ymd(date, order), *clock)
    except ValueError:
        raise ImportFailed(path, f"not a valid date (read as {'/'.join(order.upper())})", line=line) from None


def _message_text(entry: _Entry) -> str | None:
    """The words of a message, or None for media, deleted messages and iOS notices."""
    first = entry.lines[0]
    # iOS writes notices ("Messages and calls are end-to-end encrypted") and
    # attachments ("image omitted") under a name, marked by a leading U+200E.
    if first.startswith("\u200e"):
        return None
    text = "\n".join(entry.lines).replace("\u200e", "").strip()
    if text.endswith(_EDITED):
        text = text[: -len(_EDITED)].rstrip()
    if not text or _PLACEHOLDER.fullmatch(text) or text in _DELETED:
        return None
    return text


def _title(path: Path) -> str:
    """The chat's name: from the file name on Android, the unzipped folder's on iOS (`_chat.txt`)."""
    name = path.parent.name if path.stem == "_chat" else path.stem
    for prefix in ("WhatsApp Chat with ", "WhatsApp Chat - "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name
