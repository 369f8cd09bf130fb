"""FrameFilter on real screenshots (ScreenAgent) and synthetic ones: de-duplication, blackout, exclusion,
and what window titles reveal (URLs, private browsing). No display needed."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dir
from PIL import Image, ImageDraw

from app.capture.frame_filter import (MOTION_GAP_S, TICKING, CaptureRules, Decision, FilterResult, FrameFilter,
                                      black_out, changed_regions)
from app.capture.screen import Monitor, ReplayScreen
from app.capture.factory import window_provider
from app.capture.windows import NullWindows, WindowInfo, is_private_title, url_in_title
from tests.ticking_clock import ClockScreen, terminal_lines
from tests.video import VideoScreen

VAULT = WindowInfo("keepassxc", "Passwords.kdbx [Locked] - KeePassXC", (0, 0, 10, 10), wm_class="KeePassXC")
EDITOR = WindowInfo("gedit", "notes.txt - gedit", (0, 0, 10, 10))


def session(prefix: str) -> list[Path]:
    [folder] = (shared_dir() / "data" / "screens" / "screenagent").glob(f"{prefix}*")
    return sorted((folder / "images").glob("*.jpg"))


def gray(path: Path | Image.Image) -> np.ndarray:
    image = path if isinstance(path, Image.Image) else Image.open(path)
    return np.asarray(image.convert("L"), dtype=np.int16)


def replay(frames: list[Path] | list[Image.Image], frame_filter: FrameFilter | None = None) -> list[Decision]:
    screen, frame_filter = ReplayScreen(frames), frame_filter or FrameFilter()
    monitor = screen.monitors()[0]
    return [frame_filter.decide(monitor, screen.grab(monitor), again=lambda: screen.grab_later(monitor, MOTION_GAP_S)
                                ).decision for _ in range(len(frames))]


def test_twenty_identical_ticks_keep_exactly_one_frame() -> None:
    decisions = replay([session("2fdc27")[0]] * 20)
    assert decisions == [Decision.KEEP] + [Decision.SKIP_DUPLICATE] * 19


@pytest.mark.parametrize("prefix", ["2fdc27", "c5e28b", "125d44"])
def test_replayed_session_keeps_real_changes_and_skips_clock_ticks(prefix: str) -> None:
    """These sessions' consecutive screens are pixel-identical, a clock tick or caret (< 100 changed pixels),
    or a new screen (> 4,000): so the expected decisions follow from the pixels, whatever the threshold's
    exact value, as long as it separates those two (bench/dedup_bench.py measures where it lies)."""
    frames = session(prefix)
    expected, last_kept = [Decision.KEEP], gray(frames[0])
    for path in frames[1:]:
        changed = int((np.abs(gray(path) - last_kept) > 48).sum())
        assert changed < 100 or changed > 4000, f"{path.name}: {changed} pixels is neither a tick nor a new screen"
        if changed > 4000:
            last_kept = gray(path)
        expected.append(Decision.KEEP if changed > 4000 else Decision.SKIP_DUPLICATE)
    decisions = replay(frames)
    assert decisions == expected
    assert 1 < decisions.count(Decision.KEEP) < len(frames)  # the session really exercises both


def test_small_changes_add_up_against_the_last_kept_frame() -> None:
    base = Image.open(session("2fdc27")[0]).convert("RGB")
    frames = [base]
    for step in range(1, 9):  # a word typed one letter per tick: each tick is small, together they are not
        frame = frames[-1].copy()
        frame.paste((0, 0, 0), (200 + 12 * step, 300, 208 + 12 * step, 316))
        frames.append(frame)
    decisions = replay(frames)
    assert decisions[1] is Decision.SKIP_DUPLICATE
    assert Decision.KEEP in decisions[2:]


def test_kept_frame_reports_where_it_changed() -> None:
    base = Image.new("RGB", (1920, 1080), (240, 240, 240))
    typed = base.copy()
    typed.paste((20, 20, 20), (700, 400, 760, 420))  # a word
    typed.paste((20, 20, 20), (1850, 1050, 1870, 1070))  # the clock in the corner
    frame_filter, monitor = FrameFilter(), Monitor(0, 0, 0, 1920, 1080)
    assert frame_filter.decide(monitor, base).changed == (0, 0, 1920, 1080)
    result = frame_filter.decide(monitor, typed)
    assert result.decision is Decision.KEEP and result.changed is not None
    x, y, w, h = result.changed
    assert x <= 700 and y <= 400 and x + w >= 1870 and y + h >= 1070
    word, clock = result.regions
    assert word[0] <= 700 and word[1] <= 400 and word[0] + word[2] >= 760 and word[1] + word[3] >= 420
    assert word[2] * word[3] < 200 * 100 and clock[0] <= 1850 and clock[0] + clock[2] >= 1870


def test_no_changed_cell_means_the_whole_frame() -> None:
    assert changed_regions(np.zeros((36, 64), dtype=bool), (1920, 1080)) == ((0, 0, 1920, 1080),)


def test_visible_excluded_window_is_black_exactly_within_its_clipped_geometry() -> None:
    monitor = Monitor(1, 1920, 0, 400, 300)  # a second monitor right of a 1920-wide first one
    rng = np.random.default_rng(7)
    grab = Image.fromarray(rng.integers(1, 256, (300, 400, 3), dtype=np.uint8))  # no pixel is black
    vault = WindowInfo("KeePassXC", "Database - KeePassXC", (1920 + 300, -20, 200, 100))  # off the top and right
    editor = WindowInfo("gedit", "notes.txt - gedit", (1920 + 20, 50, 250, 200))
    result = FrameFilter().decide(monitor, grab, focused=editor, visible=[editor, vault])
    assert result.decision is Decision.KEEP and result.hidden == 1
    out, before = np.asarray(result.image), np.asarray(grab)
    inside = np.zeros((300, 400), dtype=bool)
    inside[0:80, 300:400] = True
    assert (out[inside] == 0).all()
    assert (out[~inside] == before[~inside]).all()
    assert (np.asarray(grab) == before).all()  # the grab itself is left alone


def test_blackout_scales_points_to_pixels_on_hidpi() -> None:
    monitor = Monitor(0, 0, 0, 200, 150)  # points; the grab has twice as many pixels
    out, hidden = black_out(Image.new("RGB", (400, 300), "white"), monitor, [(10, 20, 30, 40)])
    pixels = np.asarray(out)
    assert hidden == 1 and (pixels[40:120, 20:80] == 0).all() and pixels[:40].min() == 255 and pixels[120:].min() == 255


def test_window_off_the_monitor_changes_nothing() -> None:
    grab = Image.new("RGB", (100, 100), "white")
    out, hidden = black_out(grab, Monitor(0, 0, 0, 100, 100), [(100, 0, 50, 50), (-60, -60, 60, 60)])
    assert out is grab and hidden == 0


@pytest.mark.parametrize("focused", [
    WindowInfo("firefox", "Bank login — Mozilla Firefox Private Browsing", (0, 0, 800, 600)),
    WindowInfo("chrome", "New Tab - Google Chrome (Incognito)", (0, 0, 800, 600)),
    VAULT,
    WindowInfo("python3", "Engram — Recall", (0, 0, 600, 80)),
])
def test_focused_excluded_window_takes_no_frame_and_keeps_the_reference(focused: WindowInfo) -> None:
    frame_filter, monitor = FrameFilter(), Monitor(0, 0, 0, 64, 36)
    screen = Image.new("RGB", (64, 36), "white")
    assert frame_filter.decide(monitor, screen, focused=EDITOR).decision is Decision.KEEP
    result = frame_filter.decide(monitor, Image.new("RGB", (64, 36), "black"), focused=focused)
    assert result.decision is Decision.EXCLUDED and result.image is None and result.reason
    assert focused.title not in result.reason
    assert frame_filter.decide(monitor, screen, focused=EDITOR).decision is Decision.SKIP_DUPLICATE


def test_rules_match_app_class_and_title_keywords_case_insensitively() -> None:
    rules = CaptureRules(excluded_apps=frozenset({"Signal"}), excluded_title_keywords=("salary", " "))
    assert rules.exclusion(WindowInfo("signal-desktop", "Signal", (0, 0, 1, 1), wm_class="signal")) == "excluded app"
    sheet = WindowInfo("libreoffice", "SALARY 2026.ods - LibreOffice Calc", (0, 0, 1, 1))
    assert rules.exclusion(sheet) == "title keyword"
    assert rules.exclusion(EDITOR) is None  # a blank keyword matches nothing
    assert CaptureRules().exclusion(VAULT) == "excluded app"


TITLES = [  # title, app, private, url
    ("GitHub - torvalds/linux — Mozilla Firefox Private Browsing", "firefox", True, None),
    ("Mozilla Firefox Private Browsing", "firefox", True, None),
    ("Inbox (3) - anna@example.com - Mail — Mozilla Firefox", "firefox", False, None),
    ("New Tab - Google Chrome (Incognito)", "chrome", True, None),
    ("Example Domain - Brave (Private)", "brave", True, None),
    ("New InPrivate tab - [InPrivate] - Microsoft Edge", "msedge", True, None),
    ("Start Page — Private", "Safari", True, None),
    ("Private Equity - Wikipedia — Mozilla Firefox", "firefox", False, None),
    ("Private notes.txt - gedit", "gedit", False, None),
    ("Example Domain - https://example.com/ - Mozilla Firefox", "firefox", False, "https://example.com/"),
    ("https://docs.python.org/3/library/re.html?highlight=x#re.search - qutebrowser", "qutebrowser", False,
     "https://docs.python.org/3/library/re.html?highlight=x#re.search"),
    ("(see http://intranet.local:8080/wiki/Budget).", "firefox", False, "http://intranet.local:8080/wiki/Budget"),
    ("example.com/pricing - Google Chrome", "chrome", False, None),  # a bare host: the scheme is unknown
    ("~/src/engram - vim", "vim", False, None),
]


@pytest.mark.parametrize(("title", "app", "private", "url"), TITLES)
def test_title_reveals_private_windows_and_urls(title: str, app: str, private: bool, url: str | None) -> None:
    window = WindowInfo(app, title, (0, 0, 1, 1))
    assert window.is_private is private == is_private_title(title, app)
    assert window.url == url == url_in_title(title)


def test_explicit_url_wins_over_the_title() -> None:
    assert WindowInfo("firefox", "Example", (0, 0, 1, 1), url="https://example.com/").url == "https://example.com/"


@pytest.mark.parametrize("environ", [{}, {"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"},
                                     {"WAYLAND_DISPLAY": "wayland-0"}, {"DISPLAY": ":999"}])
def test_window_provider_degrades_to_null_without_a_usable_x_display(environ: dict[str, str]) -> None:
    provider = window_provider("linux", environ)
    assert isinstance(provider, NullWindows)
    assert provider.focused() is None and provider.visible() == [] and provider.idle_seconds() is None


def test_replay_screen_is_one_monitor_of_the_first_image_size() -> None:
    frames = session("2fdc27")[:2]
    screen = ReplayScreen(frames, left=1920)
    [monitor] = screen.monitors()
    assert (monitor.left, monitor.width, monitor.height) == (1920, 1024, 768)
    assert screen.grab(monitor).mode == "RGB" and screen.remaining == 1
    screen.grab(monitor)
    with pytest.raises(IndexError):
        screen.grab(monitor)


def test_a_small_lasting_change_is_kept_once_it_has_settled() -> None:
    base = Image.open(session("2fdc27")[0]).convert("RGB")
    edited = base.copy()
    edited.paste((0, 0, 0), (212, 300, 220, 316))           # one typed character, nothing after it
    blink = base.copy()
    blink.paste((0, 0, 0), (212, 300, 214, 312))            # a caret
    now = [0.0]
    frame_filter = FrameFilter(clock=lambda: now[0])
    screen = ReplayScreen([base, blink, edited, edited, edited])
    monitor = screen.monitors()[0]
    decide = lambda: frame_filter.decide(monitor, screen.grab(monitor)).decision  # noqa: E731
    assert decide() is Decision.KEEP
    now[0] = 90.0
    assert decide() is Decision.SKIP_DUPLICATE               # a blink is noise however long it lasts
    now[0] = 95.0
    assert decide() is Decision.KEEP                          # the character, a minute after the last keep
    now[0] = 200.0
    assert decide() is Decision.SKIP_DUPLICATE and decide() is Decision.SKIP_DUPLICATE


def test_exact_changes_shrink_a_region_to_the_pixels_that_differ() -> None:
    from app.capture.frame_filter import exact_changes

    before = Image.new("RGB", (400, 300), (200, 200, 200))
    after = before.copy()
    after.paste((255, 0, 0), (100, 50, 140, 62))           # a red word (rows 50-61, one run)
    after.paste((232, 190, 200), (300, 200, 310, 210))      # as bright as the grey, another colour: still a change
    assert exact_changes(after, before, [(60, 20, 120, 90), (280, 180, 60, 60)]) == \
        [(98, 48, 44, 16), (298, 198, 14, 14)]
    faint = before.copy()
    faint.paste((201, 200, 200), (10, 10, 20, 20))          # one level brighter on a drawn screen: a change
    assert exact_changes(faint, before, [(0, 0, 400, 300)]) == [(8, 8, 14, 14)]
    noise = np.random.default_rng(5).integers(-20, 21, size=(300, 400, 3))
    noisy = Image.fromarray((np.asarray(before, dtype=np.int16) + noise).clip(0, 255).astype(np.uint8))
    assert exact_changes(noisy, before, [(0, 0, 400, 300)]) == [(0, 0, 400, 300)]   # JPEG-like noise only: region kept
    word = noisy.copy()
    word.paste((0, 0, 0), (100, 50, 140, 62))
    assert exact_changes(word, noisy, [(60, 20, 120, 90)]) == [(98, 48, 44, 16)]   # a word on a noisy screen
    assert exact_changes(after, None, [(60, 20, 120, 90)]) == [(60, 20, 120, 90)]


def play(screen: VideoScreen, frame_filter: FrameFilter, ticks: int,
         at: dict[int, Callable[[], None]] | None = None) -> list[FilterResult]:
    """`ticks` grabs 3 s apart (by the filter's clock), each with a second grab a moment later."""
    monitor, results = screen.monitors()[0], []
    frame_filter.clock = lambda: screen.clock
    for tick in range(ticks):
        (at or {}).get(tick, lambda: None)()
        results.append(frame_filter.decide(monitor, screen.grab(monitor),
                                           again=lambda: screen.grab_later(monitor, MOTION_GAP_S)))
    return results


def with_second_grabs(screen: ReplayScreen | VideoScreen, frame_filter: FrameFilter,
                      grabs: int) -> tuple[list[Decision], int]:
    """The filter's decisions on `grabs` grabs, and how many second grabs it asked for."""
    monitor, asked = screen.monitors()[0], []

    def again() -> Image.Image:
        asked.append(1)
        return screen.grab_later(monitor, MOTION_GAP_S)

    return [frame_filter.decide(monitor, screen.grab(monitor), again=again).decision for _ in range(grabs)], len(asked)


def kept(results: list[FilterResult]) -> list[int]:
    return [i for i, r in enumerate(results) if r.decision is Decision.KEEP]


@pytest.mark.slow  # 45 + 10 full-HD screens through the filter
def test_a_playing_video_is_kept_once_a_minute_and_a_change_beside_it_at_once() -> None:
    screen = VideoScreen()

    def type_a_line() -> None:
        ImageDraw.Draw(screen.desk).text((24, 1000), "a line typed beside the video", fill="black")

    def pause() -> None:
        screen.playing = False

    results = play(screen, FrameFilter(), 45, at={25: type_a_line, 35: pause})
    # The first two grabs (nothing is known to move yet), a minute after the second, the typed line, the
    # first paused picture; nothing else.
    assert kept(results) == [0, 1, 21, 25, 35]
    assert all(results[i].reason == "moving picture" for i in range(2, 35) if i not in (21, 25))
    assert all(r.decision is Decision.SKIP_DUPLICATE and not r.reason for r in results[36:])
    # Without the moving-picture rule every frame of the video is kept.
    assert kept(play(VideoScreen(), FrameFilter(moving_seconds=0), 10)) == list(range(10))


def test_text_scrolling_as_fast_as_a_video_is_kept_every_time() -> None:
    """A log being written changes as often as a video, but it is drawn text: every screen of it counts."""
    results = play(VideoScreen(drawn=True), FrameFilter(), 12)
    assert kept(results) == list(range(12))


def test_photographs_scrolling_by_are_a_page_not_a_moving_picture() -> None:
    """A photo feed flicked through without pause changes at every grab and again a moment later, but by
    moving up: every screen of it counts, as any scrolled page's."""
    results = play(VideoScreen(feed=True), FrameFilter(), 12)
    assert kept(results) == list(range(12))


def test_a_new_screen_each_tick_is_not_a_moving_picture() -> None:
    """ScreenAgent screens (JPEG: pictures to the filter) changing at grab after grab, but still between grabs."""
    frames = session("6cab3d")
    decisions, second_grabs = with_second_grabs(ReplayScreen(frames), FrameFilter(), len(frames))
    assert second_grabs >= 3  # the same places changed a lot twice in a row, so it looked again
    assert decisions == replay(frames, FrameFilter(moving_seconds=0))


def test_something_too_small_to_keep_a_frame_for_is_not_grabbed_twice() -> None:
    """A tiny animation (a clock's seconds on a wallpaper, a spinner) changes at every grab, but never
    enough to keep a frame: no second grab is spent on it."""
    screen = VideoScreen(box=(1800, 12, 16, 12))
    decisions, second_grabs = with_second_grabs(screen, FrameFilter(clock=lambda: screen.clock), 10)
    assert decisions == [Decision.KEEP] + [Decision.SKIP_DUPLICATE] * 9 and second_grabs == 0
    bigger = VideoScreen(box=(1700, 12, 200, 120))
    assert kept(play(bigger, FrameFilter(), 10)) == [0, 1]  # one worth a frame is found moving


def test_text_with_coloured_letter_edges_is_not_a_picture() -> None:
    """Sub-pixel anti-aliasing (ClearType, LCD filtering) gives letters coloured edges: a dense page of it
    has a couple of hundred colours, but its background still covers most of it."""
    from storage.frame_pictures import looks_like_a_picture

    coverage = Image.new("L", (3 * 900, 300))
    for i in range(12):
        ImageDraw.Draw(coverage).text((10, 5 + 24 * i), "The quick brown fox jumps over the lazy dog 0123456789 " * 3,
                                      fill=255)
    thirds = np.asarray(coverage, np.float32).reshape(300, 900, 3) / 255  # one coverage per colour channel
    for background, ink in [((255, 255, 255), (0, 0, 0)), ((30, 30, 36), (220, 220, 220))]:
        page = Image.fromarray((np.array(background) * (1 - thirds) + np.array(ink) * thirds).astype(np.uint8))
        assert len(page.getcolors(10_000)) > 100 and not looks_like_a_picture(page)
    assert looks_like_a_picture(VideoScreen().frame(0).crop((600, 200, 1880, 920)))


def tick_clock(screen: ClockScreen, frame_filter: FrameFilter, ticks: int,
               at: dict[int, Callable[[], None]] | None = None) -> list[FilterResult]:
    monitor, results = screen.monitors()[0], []
    frame_filter.clock = lambda: screen.clock
    for tick in range(ticks):
        (at or {}).get(tick, lambda: None)()
        results.append(frame_filter.decide(monitor, screen.grab(monitor)))
    return results


@pytest.mark.slow  # 200 full-HD screens through the filter
def test_a_seconds_clock_on_a_still_screen_is_kept_once_a_minute() -> None:
    """Issue 21.5: a big seconds clock kept a frame at every other tick (each then read and embedded)."""
    results = tick_clock(ClockScreen(), FrameFilter(), 100)  # five minutes, a grab every 3 s
    # While the clock is not yet known to tick (its cells changed at 6 of 8 grabs), as without the rule;
    # then about once a minute (20 grabs): when the rule lets the clock count again, or at a new minute.
    warm_up, later = [i for i in kept(results) if i < 8], [i for i in kept(results) if i >= 8]
    assert len(warm_up) <= 4 and len(later) <= 5 and all(b - a >= 15 for a, b in zip(later, later[1:]))
    assert {r.reason for r in results[8:] if r.decision is Decision.SKIP_DUPLICATE and r.change_area >= 128} \
        == {TICKING}
    # Without the rule, the same clock keeps a frame at every other tick or so.
    assert len(kept(tick_clock(ClockScreen(), FrameFilter(ticking_seconds=0), 100))) >= 35


def test_a_change_beside_a_ticking_clock_is_kept_at_once_with_the_clock_as_it_was() -> None:
    screen = ClockScreen()

    def type_a_line() -> None:
        screen.lines = screen.lines[:-1] + ["$ engram capture --status"]

    results = tick_clock(screen, FrameFilter(), 18, at={14: type_a_line})  # 18 grabs: all in one minute
    assert [i for i in kept(results) if i >= 8] == [14]
    clock_box = (1650, 40, 270, 90)
    assert any(_overlap(region, clock_box) for region in results[14].regions)  # the picture shows the clock too


@pytest.mark.slow  # full-HD screens through the filter, with and without the rule
def test_slow_typing_is_not_a_clock() -> None:
    """One character a tick in the same line changes neighbouring cells tick after tick, but moves on:
    every frame worth keeping is kept, as without the rule."""
    text = "typing one character at a time into a terminal line that grows slowly"

    def typed(n: int) -> Callable[[], None]:
        return lambda: setattr(screen, "lines", lines[:-1] + [text[:n]])

    screen, lines = ClockScreen(clock_px=12), terminal_lines()
    steps = {tick: typed(tick) for tick in range(1, 40)}
    with_rule = tick_clock(screen, FrameFilter(), 40, at=steps)
    screen, lines = ClockScreen(clock_px=12), terminal_lines()
    steps = {tick: typed(tick) for tick in range(1, 40)}
    assert kept(with_rule) == kept(tick_clock(screen, FrameFilter(ticking_seconds=0), 40, at=steps))


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_a_progress_bar_creeping_along_is_kept_about_once_a_minute() -> None:
    """A download's bar gaining 3 pixels a tick (ten minutes for 600) and its percentage beside it."""
    from PIL import ImageFont

    from tests.ticking_clock import SANS

    page = ClockScreen().frame()

    def bar(tick: int) -> Image.Image:
        image = page.copy()
        draw = ImageDraw.Draw(image)
        draw.rectangle((1000, 500, 1600, 520), outline=(120, 120, 120), fill="white")
        draw.rectangle((1000, 500, 1000 + 3 * tick, 520), fill=(40, 110, 220))
        draw.text((1000, 530), f"Downloading {tick / 2:.0f}%", font=ImageFont.truetype(SANS, 16), fill="black")
        return image

    def kept_of(frame_filter: FrameFilter) -> int:
        seconds = [0.0]
        frame_filter.clock = lambda: seconds[0]
        monitor, count = Monitor(0, 0, 0, 1920, 1080), 0
        for tick in range(60):
            seconds[0] = 3.0 * tick
            count += frame_filter.decide(monitor, bar(tick)).decision is Decision.KEEP
        return count

    assert kept_of(FrameFilter()) <= 5 < 12 <= kept_of(FrameFilter(ticking_seconds=0))
