"""A secret rotation of embedding vectors.

Stored vectors are multiplied by an orthogonal matrix derived from the
rotation key, and so are queries. Orthogonal maps keep distances and dot
products, so search ranks exactly as before, but a copied vector cannot be
compared with what the public model gives for a guessed sentence. This is
obfuscation against casual inversion, not encryption: it is documented so.

The matrix is built from an AES-CTR keystream (not numpy's RNG, whose streams
may change between numpy versions) turned into Gaussians, then orthogonalised
with QR. Re-deriving it on another machine gives the same matrix up to
floating-point rounding, which does not change rankings.
"""
from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _keystream_uniform(key: bytes, count: int) -> npt.NDArray[np.float64]:
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    raw = encryptor.update(b"\x00" * (count * 8)) + encryptor.finalize()
    ints = np.frombuffer(raw, dtype="<u8") >> np.uint64(11)  # 53 random bits per double
    return (ints.astype(np.float64) + 0.5) / float(1 << 53)  # open interval (0, 1)


def rotation_matrix(key: bytes, dim: int) -> npt.NDArray[np.float32]:
    pairs = (dim * dim + 1) // 2
    u = _keystream_uniform(key, 2 * pairs).reshape(pairs, 2)
    # Box-Muller: Gaussian entries make QR's Q uniformly distributed over rotations.
    radius, angle = np.sqrt(-2.0 * np.log(u[:, 0])), 2.0 * np.pi * u[:, 1]
    gauss = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[: dim * dim].reshape(dim, dim)
    q, r = np.linalg.qr(gauss)
    q *= np.sign(np.diag(r))  # make the factorisation unique
    return q.astype(np.float32)


class VectorRotation:
    def __init__(self, key: bytes, dim: int) -> None:
        self._key, self.dim = key, dim
        self._matrix: npt.NDArray[np.float32] | None = None
        self._lock = threading.Lock()

    def apply(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self._matrix is None:
            with self._lock:
                if self._matrix is None:
                    self._matrix = rotation_matrix(self._key, self.dim)
        return np.ascontiguousarray(vectors.astype(np.float32) @ self._matrix)
