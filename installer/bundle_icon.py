"""The bundles' program icon, made from assets/engram.svg at build time: a .ico for Windows, a .icns
for macOS (installer/engram.spec runs this). Each size is drawn from the SVG by Qt, not scaled down
from one large picture, so the small ones stay sharp; Pillow writes the two containers.

    python installer/bundle_icon.py OUT.ico|OUT.icns
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SVG = REPO / "assets" / "engram.svg"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def drawn(sizes: tuple[int, ...]) -> list[Any]:
    """The icon as Pillow images, one per size."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a build machine may have no screen
    sys.path.insert(0, str(REPO))
    from PIL import Image

    from app.qt import QGuiApplication, QIcon

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841  (QIcon draws only with one)
    icon = QIcon(str(SVG))
    images = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            png = Path(tmp) / f"{size}.png"
            if not icon.pixmap(size, size).save(str(png), "PNG"):
                raise SystemExit(f"bundle_icon.py: Qt could not draw {SVG} at {size} px")
            with Image.open(png) as image:
                images.append(image.convert("RGBA"))
    return images


def write(out: Path) -> Path:
    if out.suffix == ".ico":
        images = drawn(ICO_SIZES)
        images[-1].save(out, sizes=[(s, s) for s in ICO_SIZES], append_images=images[:-1])
    elif out.suffix == ".icns":
        images = drawn(ICNS_SIZES)
        images[-1].save(out, append_images=images[:-1])
    else:
        raise SystemExit(f"bundle_icon.py: {out.name}: only .ico and .icns are made")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(write(Path(sys.argv[1])))
