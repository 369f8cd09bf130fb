import os

import numpy as np

from storage.memory import Memory
from storage.rotation import VectorRotation, rotation_matrix
from storage.store import MemoryStore


def test_rotation_is_orthogonal_deterministic_and_keyed() -> None:
    key = os.urandom(32)
    m = rotation_matrix(key, 64)
    assert np.allclose(m @ m.T, np.eye(64), atol=1e-5)
    assert np.array_equal(m, rotation_matrix(key, 64))
    assert not np.allclose(m, rotation_matrix(os.urandom(32), 64), atol=0.1)


def test_distances_are_kept_but_vectors_are_not_the_models(store: MemoryStore) -> None:
    texts = ["green tea with Anna", "quarterly budget", "deploy the staging server"]
    store.add([Memory("semantic", t) for t in texts])
    raw = store.embedder.embed(texts)
    stored = {r["id"]: np.array(r["vector"]) for r in store.table.search().limit(None).to_arrow().to_pylist()}
    by_text = {m.text: stored[m.id] for m in store.list_range()}
    rotated = np.stack([by_text[t] for t in texts])
    assert np.abs(rotated - raw).max() > 0.1                          # not the public model's vectors
    assert max(abs(float(r @ v)) for r in raw for v in rotated) < 0.9   # nor close to any of them
    # yet every similarity is the same, to float16's precision (the vectors are stored as float16)
    assert np.abs(raw @ raw.T - rotated @ rotated.T).max() < 2e-3


def test_rotation_is_lazy() -> None:
    rotation = VectorRotation(os.urandom(32), 8)
    assert rotation._matrix is None
    out = rotation.apply(np.eye(8, dtype=np.float32))
    assert out.shape == (8, 8) and rotation._matrix is not None
