"""A simulated desktop for the year-of-use fill: what the screen shows at each capture tick.

Everything is a pure function of the tick number, so a fill that was killed resumes on exactly the
screens it would have seen. A day is 8 hours of ticks every 3 s from 09:00 UTC. The user stays in one
window for a while (a "visit": one ScreenAgent screenshot), then switches; within a visit they type
(new words appear), scroll (a band of the window moves up) and the clock in the corner ticks. Two
ticks in three show nothing new and the recorder skips them, as it does with a real screen (a third of
grabs kept); the clock alone does not make a tick kept.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from bench.year_screens import Screen

TICK = timedelta(seconds=3)
TICKS_PER_DAY = 8 * 3600 // 3
START = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
KEPT_SHARE = 1 / 3
SWITCH_SHARE = 0.08    # of kept ticks: another window comes to the front
SCROLL_SHARE = 0.2     # of kept ticks: the window scrolls
MAX_VISIT_TICKS = 600  # a visit lasts at most half an hour (a day is a whole number of them)
SCROLL_STEP = 60
APPS = ("Firefox", "Terminal", "Visual Studio Code", "Thunderbird", "LibreOffice Writer", "Slack",
        "Files", "Obsidian")
_TYPED = ("budget", "meeting", "invoice", "deploy", "review", "draft", "holiday", "release", "notes",
          "kernel", "recipe", "flight", "contract", "lecture", "sprint", "dentist", "garden", "report")


def roll(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`: the simulation's only source of chance."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def moment(tick: int) -> datetime:
    day, within = divmod(tick, TICKS_PER_DAY)
    return START + timedelta(days=day) + within * TICK


def tick_of(when: datetime) -> int:
    """The tick a frame's time was taken at (inverse of `moment`)."""
    day = (when - START).days
    within = round((when - (START + timedelta(days=day))) / TICK)
    return day * TICKS_PER_DAY + within


def kept(tick: int) -> bool:
    """The first grab of a day is always kept (the recorder keeps the first grab after a break)."""
    return tick % MAX_VISIT_TICKS == 0 or roll("kept", tick) < KEPT_SHARE


def change(tick: int) -> str:
    """What made a kept tick differ: 'switch', 'scroll' or 'type'."""
    if tick % MAX_VISIT_TICKS == 0:  # a new day, or half an hour in one window
        return "switch"
    r = roll("change", tick)
    return "switch" if r < SWITCH_SHARE else "scroll" if r < SWITCH_SHARE + SCROLL_SHARE else "type"


def visit_start(tick: int) -> int:
    """The tick the current window came to the front."""
    t = tick
    while not (kept(t) and change(t) == "switch"):
        t -= 1
    return t


@dataclass(frozen=True)
class View:
    """What the screen shows at one tick, and what changed since the previous kept tick."""

    tick: int
    screen: Screen
    app: str
    title: str
    scroll: int                                   # pixels the band scrolled since the visit began
    typed: tuple[tuple[str, tuple[int, int, int, int]], ...]  # words typed in this visit, with boxes
    changed: tuple[tuple[int, int, int, int], ...]  # regions changed since the kept tick before
    band: tuple[int, int]                         # top and bottom of the scrolling band
    clock: tuple[int, int, int, int]


def view(tick: int, screens: list[Screen]) -> View:
    start = visit_start(tick)
    screen = screens[int(roll("screen", start) * len(screens))]
    size = _size(str(screen.path))
    app = APPS[int(roll("app", screen.key) * len(APPS))]
    title = " ".join(w[0] for w in screen.words[:6])[:80] or screen.key
    band = (size[1] // 8, size[1] * 7 // 8)
    clock = (size[0] - 140, size[1] - 32, 100, 26)
    scroll, typed, last_change = 0, [], start
    for t in range(start + 1, tick + 1):
        if not kept(t):
            continue
        last_change = t
        if change(t) == "scroll":
            scroll += SCROLL_STEP
        else:
            typed.append(_typed_word(t, band, size))
    if tick == start:
        changed: tuple[tuple[int, int, int, int], ...] = ((0, 0, *size),)
    elif change(last_change) == "scroll":
        changed = ((0, band[0], size[0], band[1] - band[0]), clock)
    else:
        changed = (typed[-1][1], clock)
    return View(tick, screen, app, title, scroll, tuple(typed), changed, band, clock)


def _typed_word(tick: int, band: tuple[int, int], size: tuple[int, int]) -> tuple[str, tuple[int, int, int, int]]:
    word = _TYPED[int(roll("word", tick) * len(_TYPED))]
    x = int(roll("x", tick) * (size[0] - 200))
    y = band[0] + int(roll("y", tick) * (band[1] - band[0] - 24))
    return word, (x, y, 12 * len(word), 22)


def words_of(v: View) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The words an OCR would read on this view: the screenshot's own (those in the band moved up by the
    scroll, wrapping round as the picture does), the typed ones, and the clock."""
    top, bottom = v.band
    height = bottom - top
    out = []
    for text, x, y, w, h in v.screen.words:
        if top <= y and y + h <= bottom:
            y = top + (y - top - v.scroll) % height
            if y + h > bottom:
                continue  # cut in two by the band's edge
        out.append((text, (x, y, w, h)))
    out += list(v.typed)
    out.append((f"{moment(v.tick):%H:%M}", v.clock))
    return out


@lru_cache(maxsize=1024)
def _size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


@lru_cache(maxsize=4)
def _base(path: str) -> Any:
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def picture(v: View) -> Any:
    """The grab: the screenshot with its band scrolled, the typed words drawn, and the clock."""
    import numpy as np
    from PIL import Image, ImageDraw

    base = _base(str(v.screen.path))
    if v.scroll:
        pixels = np.asarray(base).copy()
        top, bottom = v.band
        pixels[top:bottom] = np.roll(pixels[top:bottom], -v.scroll, axis=0)
        image = Image.fromarray(pixels)
    else:
        image = base.copy()
    draw = ImageDraw.Draw(image)
    for word, (x, y, w, h) in v.typed:
        draw.rectangle((x, y, x + w, y + h), fill=(255, 255, 255))
        draw.text((x + 2, y + 4), word, fill=(0, 0, 0))
    x, y, w, h = v.clock
    draw.rectangle((x, y, x + w, y + h), fill=(30, 30, 30))
    draw.text((x + 30, y + 7), f"{moment(v.tick):%H:%M}", fill=(255, 255, 255))
    return image
