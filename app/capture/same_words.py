"""Whether a screen's text says what the screen before said, numbers aside.

Embedding a screen's text costs most of what a kept frame costs (issue 21.5: 85% of the CPU of a
still page with a ticking clock, bench/capture_bench.py `clock`), and a clock, a counter, a
percentage or `top`'s figures change a screen's numbers at every frame. The vector stands for what
the text is about, which its numbers hardly move (and a query for a number is matched by keyword
search, which indexes every word of the new text whatever its vector): a screen whose words are those
of the screen before, in any order, once words holding a digit and single letters (`top`'s process
states, R and S) are left out, takes that screen's vector.
"""
from __future__ import annotations

from collections import Counter

from storage.blind_index import words


def same_but_numbers(text: str, before: str) -> bool:
    """The same words, counting repeats and in any order, once words holding a digit and single letters
    are left out."""
    return _lettered(text) == _lettered(before)


def _lettered(text: str) -> Counter[str]:
    return Counter(word for word in words(text) if len(word) > 1 and not any(c.isdigit() for c in word))
