"""Keyword search over text the database never sees.

Text is normalised into word tokens here (not inside LanceDB), then every
token is replaced by a keyed HMAC, truncated and written as a short base32
word. LanceDB's full-text index runs BM25 over those words with its own
tokenizer reduced to "split on whitespace", so term and document frequencies,
and therefore the ranking, are exactly those of the plaintext tokens.

Equal words give equal tokens, so frequency analysis of the token column is
possible for someone holding the files; that is the price of server-side BM25
and is stated in the README.
"""
from __future__ import annotations

import base64
import hmac
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# 35 bits: with ten million distinct words stored (OCR misreadings included), a query word matches
# another word's token with a chance of 3 in 10,000, which at worst adds one unrelated hit to a
# keyword search. Tokens are the largest column of a screen's row (a text-only one: 1.2 of 2.7 kB);
# 12 characters until schema 3, 9 until schema 4.
_TOKEN_CHARS = 7
_CACHE_WORDS = 200_000


# Chinese and Japanese are written without spaces: a run of their characters is not one word. Each run is
# indexed as its overlapping pairs of characters (as Lucene's CJK analyzer does), so "设置" is found in
# "打开浏览器设置" and a query of any length matches by its own pairs. Korean separates words with spaces and
# is left to the word rule.
_PAIRED = re.compile("[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")


def has_pairs(text: str) -> bool:
    """Whether `text` holds Chinese or Japanese, which is indexed as pairs of characters."""
    return _PAIRED.search(unicodedata.normalize("NFKC", text)) is not None


def words(text: str) -> list[str]:
    """Lowercased, NFKC-normalised, lightly stemmed word tokens, in order (Chinese and Japanese as pairs
    of characters)."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    if not _PAIRED.search(normal):
        return [stem(w) for w in _WORD.findall(normal)]
    found: list[str] = []
    for word in _WORD.findall(normal):
        start = 0
        for run in _PAIRED.finditer(word):
            if run.start() > start:
                found.append(stem(word[start:run.start()]))  # "Firefox浏览器": firefox, then the pairs
            text_run = run.group()
            found += [text_run] if len(text_run) == 1 else [text_run[i:i + 2] for i in range(len(text_run) - 1)]
            start = run.end()
        if start < len(word):
            found.append(stem(word[start:]))
    return found


def stem(word: str) -> str:
    """A deliberately light English stemmer: plurals and the commonest verb endings.

    Aggressive stemming (Porter) merges words users keep apart ("university"
    and "universe"); this only folds the forms people actually vary between
    when they search for something they saw.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if any(v in base for v in "aeiouy"):
                # "stopped" -> "stop", "running" -> "run": undo the doubled consonant
                if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                    base = base[:-1]
                return base
    return word


class BlindIndex:
    def __init__(self, index_key: bytes) -> None:
        self._key = index_key
        # Words repeat endlessly (on screens above all), and HMAC dominates the cost
        # of a write: remember recent ones. This is process memory, like any decrypted text.
        self._cache: dict[str, str] = {}

    def token(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is None:
            cached = self.tag(word)
            if len(self._cache) >= _CACHE_WORDS:
                self._cache.clear()
            self._cache[word] = cached
        return cached

    def tag(self, value: str) -> str:
        """The token of `value`, not cached (ids and references, each seen once or twice)."""
        digest = hmac.digest(self._key, value.encode("utf-8"), "sha256")
        # The first bits as base32 letters/digits (5 bits each).
        return base64.b32encode(digest[:8]).decode("ascii")[:_TOKEN_CHARS].lower()

    def tokens(self, text: str, *, repeats: bool = True) -> str:
        """The blind tokens of `text`, space-separated, in word order. Repeats are kept for BM25's
        term frequency unless `repeats` is False (then each word once, where it first appears)."""
        found = words(text)
        return " ".join([self.token(w) for w in (found if repeats else dict.fromkeys(found))])
