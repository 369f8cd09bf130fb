"""The numpy all-MiniLM-L6-v2 runtime, run on the real model from its wheel."""
from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from storage.embedding import Embedder
from storage.minilm import EmbeddingModelError, MiniLMEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # both L2-normalised


def test_satisfies_the_embedder_protocol(embedder: MiniLMEmbedder) -> None:
    store_side: Embedder = embedder
    assert store_side.dim == 384


def test_vectors_are_normalised_float32_rows(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["hello world", "a second, longer sentence about the desktop"])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_no_texts_gives_an_empty_matrix(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_embedding_is_deterministic(embedder: MiniLMEmbedder) -> None:
    texts = ["the same words twice", "Café déjà vu 🎉"]
    np.testing.assert_array_equal(embedder.embed(texts), embedder.embed(texts))


def test_a_text_alone_equals_the_same_text_inside_a_padded_batch(embedder: MiniLMEmbedder) -> None:
    target = "I emailed the quarterly report to Maria after the standup."
    others = ["ok", "x " * 120, "A medium sentence about a browser tab.", "", "東京の首都"]
    batch = embedder.embed([others[0], target, *others[1:]])
    alone = embedder.embed([target])[0]
    np.testing.assert_allclose(batch[1], alone, atol=1e-5)
    for i, text in enumerate(others):
        expected = embedder.embed([text])[0]
        np.testing.assert_allclose(batch[0 if i == 0 else i + 1], expected, atol=1e-5)


def test_order_of_the_output_follows_the_input(embedder: MiniLMEmbedder) -> None:
    # The runtime sorts by length internally; results must come back in input order.
    texts = ["a much longer sentence than the next one", "short"]
    forward, backward = embedder.embed(texts), embedder.embed(texts[::-1])
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)


def test_meaning_not_spelling_decides_similarity(embedder: MiniLMEmbedder) -> None:
    cat, kitten, tax = embedder.embed(
        ["The cat sits on the mat", "A kitten is resting on a rug", "Quarterly tax filing deadline"]
    )
    assert _cos(cat, kitten) > _cos(cat, tax) + 0.2
    assert _cos(cat, kitten) > 0.4


def test_known_similarity_of_the_reference_model(embedder: MiniLMEmbedder) -> None:
    # sentence-transformers (torch) gives these two sentences a cosine of 0.6427.
    cat, kitten = embedder.embed(["The cat sits on the mat", "A kitten is resting on a rug"])
    assert _cos(cat, kitten) == pytest.approx(0.6427, abs=1e-4)


def test_empty_string_is_the_embedding_of_cls_sep(embedder: MiniLMEmbedder) -> None:
    empty, blank, word = embedder.embed(["", "   \n\t", "word"])
    assert np.isfinite(empty).all()
    np.testing.assert_allclose(np.linalg.norm(empty), 1.0, atol=1e-5)
    # Whitespace tokenises to nothing, so it is the same [CLS] [SEP] input.
    np.testing.assert_allclose(empty, blank, atol=1e-6)
    assert _cos(empty, word) < 0.99


def test_long_text_is_truncated_to_256_tokens(embedder: MiniLMEmbedder) -> None:
    head = "The meeting covered the roadmap, the budget and hiring. " * 30  # > 256 tokens
    long_a, long_b = embedder.embed([head + "Totally different ending.", head + "x " * 2000])
    assert np.isfinite(long_a).all()
    # Only the first 256 tokens count, so what follows them changes nothing.
    np.testing.assert_allclose(long_a, long_b, atol=1e-5)


def test_concurrent_first_use_loads_once_and_agrees() -> None:
    fresh = MiniLMEmbedder()
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(fresh.embed(["threads agree"])))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_a_corrupt_model_zip_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "model.zip"
    broken.write_bytes(b"this is not a zip file")
    with pytest.raises(EmbeddingModelError, match="cannot load all-MiniLM-L6-v2"):
        MiniLMEmbedder(model_zip=broken).embed(["anything"])


def test_a_zip_without_the_weights_is_a_clear_error(tmp_path: Path) -> None:
    partial = tmp_path / "model.zip"
    with zipfile.ZipFile(partial, "w") as zf:
        zf.writestr("tokenizer.json", "{}")
    with pytest.raises(EmbeddingModelError):
        MiniLMEmbedder(model_zip=partial).embed(["anything"])


def test_a_missing_model_zip_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError):
        MiniLMEmbedder(model_zip=tmp_path / "absent.zip").embed(["anything"])
