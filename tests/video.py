"""A video playing in a window beside a page of text, as a screen: for the moving-picture tests and the
capture benchmark. The picture is synthetic (coloured noise over several octaves, panned, with film
grain): like camera footage it has thousands of colours and moves everywhere at once; no real video
ships with the project or the shared data."""
from __future__ import annotations

import textwrap
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.capture.screen import Monitor

FPS = 30
PAN = (40, 12)  # pixels per second the camera moves across the scene


@cache
def _scene(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth colour noise, fine detail over broad shapes (what photographs look like to an encoder)."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((height, width, 3), np.float32)
    for octave in range(1, 8):
        cells = 2 ** octave
        noise = (rng.random((cells + 1, cells * width // height + 2, 3)) * 255).astype(np.uint8)
        scene += np.asarray(Image.fromarray(noise).resize((width, height), Image.Resampling.BICUBIC),
                            np.float32) / octave ** 1.1
    scene -= scene.min()
    return scene * (255 / scene.max())


def page(size: tuple[int, int], lines: list[str]) -> Image.Image:
    """A white page with black text lines (drawn: what an editor or a browser shows)."""
    image = Image.new("RGB", size, "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=18)
    for i, line in enumerate(lines):
        draw.text((24, 24 + 30 * i), line, fill="black", font=font)
    return image


class VideoScreen:
    """One monitor showing `desk` with a video playing in `box`; each `grab` is `interval` seconds after
    the one before. `playing = False` freezes the picture; changing `desk` changes the screen beside it.
    With `drawn=True` the box shows text scrolling as fast as a video moves (a log being written); with
    `feed=True`, photographs scrolling by without pause (someone flicking through a photo feed)."""

    def __init__(self, size: tuple[int, int] = (1920, 1080), box: tuple[int, int, int, int] = (600, 200, 1280, 720),
                 *, interval: float = 3.0, drawn: bool = False, feed: bool = False, seed: int = 1) -> None:
        self.size, self.box, self.interval, self.seed = size, box, interval, seed
        self.drawn, self.feed = drawn, feed
        self.desk = page(size, [f"Notes beside the video, line {i}: nothing here moves" for i in range(32)])
        self.playing = True
        self.clock = -interval  # the first grab is at 0
        self._shown = 0.0       # the video's own time: stops while paused

    def monitors(self) -> list[Monitor]:
        return [Monitor(0, 0, 0, *self.size)]

    def grab(self, monitor: Monitor) -> Image.Image:
        self.clock += self.interval
        if self.playing:
            self._shown = self.clock
        return self.frame(self._shown)

    def grab_later(self, monitor: Monitor, seconds: float) -> Image.Image:
        return self.frame(self._shown + seconds if self.playing else self._shown)

    def frame(self, t: float) -> Image.Image:
        x, y, w, h = self.box
        screen = self.desk.copy()
        screen.paste(self._picture(t, w, h), (x, y))
        return screen

    def _picture(self, t: float, w: int, h: int) -> Image.Image:
        if self.drawn:
            first = int(t * 10)
            return page((w, h), [f"build step {n}: compiled module_{n * 7 % 1000}.o in {n % 97} ms"
                                 for n in range(first, first + h // 30)])
        if self.feed:  # 400 pixels a second, exactly as a browser moves a page
            feed = _scene(w, 4 * h, self.seed)
            top = int(400 * t) % (3 * h)
            return Image.fromarray(feed[top:top + h].astype(np.uint8))
        scene = _scene(w + 800, h + 400, self.seed)
        dx, dy = int(PAN[0] * t) % 800, int(PAN[1] * t) % 400
        grain = np.random.default_rng(int(t * FPS)).normal(0, 4, (h, w, 3))
        return Image.fromarray(np.clip(scene[dy:dy + h, dx:dx + w] + grain, 0, 255).astype(np.uint8))


# A video player window for a real X server: `python -c PLAYER title _ x,y,w,h repo-root` shows the
# footage of `VideoScreen` at 20 frames a second in a window of that geometry, and prints "ready".
PLAYER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[4])
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QApplication, QLabel
    from tests.video import VideoScreen
    app = QApplication(sys.argv)
    x, y, w, h = (int(v) for v in sys.argv[3].split(","))
    video, label, shown = VideoScreen((w, h), (0, 0, w, h)), QLabel(), [0.0]
    label.setWindowTitle(sys.argv[1])
    label.setGeometry(x, y, w, h)
    def next_frame():
        shown[0] += 0.05
        frame = QImage(video.frame(shown[0]).tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
        label.setPixmap(QPixmap.fromImage(frame))
    timer = QTimer()
    timer.timeout.connect(next_frame)
    timer.start(50)
    next_frame()
    label.show()
    print("ready", flush=True)
    app.exec()
""")
