import json
import os

import pyarrow as pa
import pytest

from storage.blind_index import BlindIndex, stem, words
from storage.store import keyword_index_config

from conftest import shared_dir


@pytest.mark.parametrize("text, expected", [
    ("Hello, WORLD!", ["hello", "world"]),
    ("Ｆｕｌｌｗｉｄｔｈ ＡＢＣ", ["fullwidth", "abc"]),          # NFKC
    ("Straße STRASSE", ["strasse", "strasse"]),                # casefold
    ("anna@example.com /home/anna/q3_report.pdf", ["anna", "example", "com", "home", "anna", "q3", "report", "pdf"]),
    ("Café crème 2024-03-05", ["café", "crème", "2024", "03", "05"]),
    ("", []),
    ("打开浏览器设置", ["打开", "开浏", "浏览", "览器", "器设", "设置"]),       # Chinese: pairs of characters
    ("Firefox浏览器 设", ["firefox", "浏览", "览器", "设"]),                 # a lone character stays one
    ("カタカナ表記 한국어 단어", ["カタ", "タカ", "カナ", "ナ表", "表記", "한국어", "단어"]),  # Korean has spaces
])
def test_words_are_normalised(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize("word, expected", [
    ("cats", "cat"), ("classes", "class"), ("boxes", "box"), ("stories", "story"),
    ("running", "run"), ("stopped", "stop"), ("walked", "walk"), ("meeting", "meet"),
    ("bus", "bus"), ("analysis", "analysis"), ("glass", "glass"), ("is", "is"), ("ring", "ring"),
    ("bed", "bed"), ("x1234567", "x1234567"),
])
def test_light_stemming(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_tokens_are_keyed_deterministic_and_keep_repeats() -> None:
    index = BlindIndex(os.urandom(32))
    tokens = index.tokens("Tea, tea and more TEA")
    parts = tokens.split()
    assert len(parts) == 5 and parts[0] == parts[1] == parts[4]
    assert all(len(p) == 7 and p.isalnum() for p in parts)
    assert "tea" not in tokens
    assert BlindIndex(os.urandom(32)).tokens("tea") != index.token("tea")


def test_tokens_without_repeats_keep_each_word_once_in_first_order() -> None:
    index = BlindIndex(os.urandom(32))
    assert index.tokens("File Edit File View edit", repeats=False).split() == \
        [index.token(w) for w in ("file", "edit", "view")]


def _bm25_top10(db, name: str, docs: list[str], queries: list[str]) -> list[list[tuple[int, float]]]:
    table = db.create_table(name, pa.table({"i": list(range(len(docs))), "tokens": docs}))
    table.create_index("tokens", config=keyword_index_config())
    out = []
    for q in queries:
        rows = table.search(q, query_type="fts", fts_columns="tokens").select(["i", "_score"]).limit(10) \
            .to_arrow().to_pylist() if q else []
        out.append([(r["i"], round(r["_score"], 4)) for r in rows])
    return out


def test_bm25_over_blind_tokens_ranks_exactly_like_plaintext(tmp_path) -> None:
    """The claim the whole keyword search rests on, on a real corpus (one LoCoMo conversation)."""
    import lancedb

    sample = json.loads((shared_dir() / "data/locomo/locomo10.json").read_text())[0]
    turns = [t["text"] for key, session in sample["conversation"].items()
             if key.startswith("session_") and isinstance(session, list) for t in session]
    questions = [q["question"] for q in sample["qa"]][:100]
    index = BlindIndex(os.urandom(32))
    db = lancedb.connect(str(tmp_path))
    plain = _bm25_top10(db, "plain", [" ".join(words(t)) for t in turns], [" ".join(words(q)) for q in questions])
    blind = _bm25_top10(db, "blind", [index.tokens(t) for t in turns], [index.tokens(q) for q in questions])
    assert len(turns) > 300 and len(questions) == 100
    assert sum(1 for r in plain if r) > 90
    assert blind == plain
