"""A still page with a seconds clock in a corner, as a screen: for the clock tests and the capture
benchmark (issue 21.5: a clock kept 10-11 frames a minute, each read and embedded again). The clock is a
desktop clock widget at 48 px (xclock -digital, a conky or a panel with a large font): a smaller one
never changes the screen enough to keep a frame, the panel's 16 px one included."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from app.capture.screen import Monitor

MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
START = datetime(2026, 12, 5, 21, 45, 7, tzinfo=timezone.utc)
_WORDS = ("the release notes mention backup restore index rebuild and passphrase rotation for every store "
          "while the quick brown fox jumps over the lazy dog").split()


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def terminal_lines(count: int = 46) -> list[str]:
    return [" ".join(_WORDS[(i * 7 + k) % len(_WORDS)] for k in range(14)) for i in range(count)]


class ClockScreen:
    """One 1920x1080 monitor showing `lines` (a terminal page) with a clock in the top right corner;
    each `grab` is `interval` seconds after the one before, by `clock` (seconds since the first grab)
    and `now` (the time the clock shows). Change `lines` to change the page."""

    def __init__(self, lines: list[str] | None = None, *, interval: float = 3.0, clock_px: int = 48) -> None:
        self.lines = terminal_lines() if lines is None else lines
        self.interval, self.clock_px = interval, clock_px
        self.clock = -interval  # the first grab is at 0

    @property
    def now(self) -> datetime:
        return START + timedelta(seconds=max(0.0, self.clock))

    def monitors(self) -> list[Monitor]:
        return [Monitor(0, 0, 0, 1920, 1080)]

    def grab(self, monitor: Monitor) -> Image.Image:
        self.clock += self.interval
        return self.frame()

    def grab_later(self, monitor: Monitor, seconds: float) -> Image.Image:
        return self.frame()

    def frame(self) -> Image.Image:
        image = Image.new("RGB", (1920, 1080), (250, 250, 250))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 1920, 32), fill=(40, 40, 40))
        draw.text((12, 7), "Activities     Terminal", font=_font(SANS, 16), fill=(230, 230, 230))
        for i, line in enumerate(self.lines):
            draw.text((20, 50 + 21 * i), line, font=_font(MONO, 16), fill=(20, 20, 20))
        font = _font(SANS, self.clock_px)
        width = draw.textlength("00:00:00", font=font)
        draw.rectangle((1920 - width - 40, 40, 1900, 60 + self.clock_px * 1.4), fill="white", outline=(120, 120, 120))
        draw.text((1920 - width - 30, 50), self.now.strftime("%H:%M:%S"), font=font, fill="black")
        return image
