"""Pictures scaled for the screen they are shown on.

A pixmap scaled to a widget's size in logical pixels is blurry on a high-DPI screen (Qt stretches
it by the device pixel ratio again); scaled to the device pixels and tagged with the ratio, it is sharp.
"""
from __future__ import annotations

from app.qt import QPixmap, QSize, Qt


def fitted(pixmap: QPixmap, size: QSize, ratio: float) -> QPixmap:
    """`pixmap` shrunk (or grown) to fit `size` logical pixels, keeping its shape, at pixel ratio `ratio`."""
    ratio = max(ratio, 1.0)
    scaled = pixmap.scaled(QSize(round(size.width() * ratio), round(size.height() * ratio)),
                           Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    scaled.setDevicePixelRatio(ratio)
    return scaled
