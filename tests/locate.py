"""Where a crop handed to a scripted OCR sits on the screen it was cut from."""
from __future__ import annotations

import numpy as np


def where(crop: np.ndarray, full: np.ndarray) -> tuple[int, int]:
    """(left, top) of the place in `full` (grayscale) that `crop` differs least from, by the sum of
    squared differences computed with FFTs (crops of lossy pictures match only roughly)."""
    crop, full = crop.astype(np.float64), full.astype(np.float64)
    h, w = crop.shape
    size = (full.shape[0] + h, full.shape[1] + w)
    valid = (slice(0, full.shape[0] - h + 1), slice(0, full.shape[1] - w + 1))

    def correlate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(np.fft.rfft2(a, size) * np.conj(np.fft.rfft2(b, size)), size)[valid]

    differences = correlate(full ** 2, np.ones_like(crop)) - 2 * correlate(full, crop)
    top, left = np.unravel_index(np.argmin(differences), differences.shape)
    return int(left), int(top)
