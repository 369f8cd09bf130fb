"""Frame pictures for the windows: loaded off the GUI thread, turned into pixmaps, scaled for the screen.

A pixmap scaled to a widget's size in logical pixels is blurry on a high-DPI screen (Qt stretches
it by the device pixel ratio again); scaled to the device pixels and tagged with the ratio, it is sharp.
"""
from __future__ import annotations

from typing import Any

from app.qt import QImage, QPixmap, QSize, Qt


def fitted(pixmap: QPixmap, size: QSize, ratio: float) -> QPixmap:
    """`pixmap` shrunk (or grown) to fit `size` logical pixels, keeping its shape, at pixel ratio `ratio`."""
    ratio = max(ratio, 1.0)
    scaled = pixmap.scaled(QSize(round(size.width() * ratio), round(size.height() * ratio)),
                           Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    scaled.setDevicePixelRatio(ratio)
    return scaled


def frame_image(store: Any, frame: Any) -> QImage | None:
    """On a worker thread: the frame's screen, decoded (a whole picture, or its patches pasted over its
    key frame's), or None when it has none. The GUI thread only turns it into a pixmap."""
    from storage.frame_pictures import PictureMissing, picture

    if frame is None or frame.kind != "frame":
        return None
    if not frame.fields.get("key") and frame.fields.get("image_id"):
        try:  # a whole picture: Qt decodes the WebP itself, no copy through Pillow
            image = QImage.fromData(store.blobs.get(frame.fields["image_id"]))
        except (KeyError, OSError, ValueError):
            return None
        return None if image.isNull() else image
    try:
        rgb = picture(store, frame).convert("RGB")
    except PictureMissing:
        return None
    return QImage(rgb.tobytes(), rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def load_thumbnails(store: Any, frame_ids: list[str]) -> dict[str, bytes]:
    """On a worker thread: the decrypted thumbnails of these frames (frames without one are left out)."""
    out = {}
    for frame_id in frame_ids:
        frame = store.get(frame_id)
        thumb_id = frame.fields.get("thumb_id") if frame is not None else None
        if thumb_id:
            try:
                out[frame_id] = store.blobs.get(thumb_id)
            except (OSError, ValueError):
                continue  # dropped by retention meanwhile
    return out


def pixmaps_from(images: dict[str, bytes]) -> dict[str, QPixmap]:
    """On the GUI thread: encoded images (thumbnails) as pixmaps, by id; undecodable ones left out."""
    out = {}
    for key, data in images.items():
        pixmap = QPixmap()
        if pixmap.loadFromData(data):
            out[key] = pixmap
    return out
