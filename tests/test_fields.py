import json
import os

import pytest

from storage.fields import FieldCipher, TamperedField


def test_round_trip_and_fresh_nonce_each_time() -> None:
    cipher = FieldCipher(os.urandom(32))
    a = cipher.seal("semantic", "id1", "text", "Anna likes tea ☕")
    b = cipher.seal("semantic", "id1", "text", "Anna likes tea ☕")
    assert a != b
    assert cipher.open("semantic", "id1", "text", a) == "Anna likes tea ☕"


@pytest.mark.parametrize("where", [("semantic", "id2", "text"), ("semantic", "id1", "title"), ("vault", "id1", "text")])
def test_a_value_moved_elsewhere_does_not_open(where: tuple[str, str, str]) -> None:
    cipher = FieldCipher(os.urandom(32))
    sealed = cipher.seal("semantic", "id1", "text", "moved")
    with pytest.raises(TamperedField, match="integrity"):
        cipher.open(*where, sealed)


def test_flipped_bit_truncation_and_wrong_key_are_detected() -> None:
    cipher = FieldCipher(os.urandom(32))
    sealed = bytearray(cipher.seal("core", "x", "text", "hello"))
    sealed[20] ^= 1
    for bad in (bytes(sealed), bytes(sealed[:10]), b""):
        with pytest.raises(TamperedField):
            cipher.open("core", "x", "text", bad)
    with pytest.raises(TamperedField):
        FieldCipher(os.urandom(32)).open("core", "x", "text", cipher.seal("core", "x", "text", "hello"))


def test_long_values_are_deflated_and_still_bound_to_their_place() -> None:
    cipher = FieldCipher(os.urandom(32))
    boxes = json.dumps({"boxes": [[f"word{i % 40}", i, i * 2, 40, 12] for i in range(400)]})
    sealed = cipher.seal("frame", "a" * 32, "body", boxes)
    assert sealed[:1] == b"\x02" and len(sealed) < len(boxes) / 2
    assert cipher.open("frame", "a" * 32, "body", sealed) == boxes
    with pytest.raises(TamperedField):
        cipher.open("frame", "b" * 32, "body", sealed)
    with pytest.raises(TamperedField):  # claiming it is not deflated does not get past the tag
        cipher.open("frame", "a" * 32, "body", b"\x01" + sealed[1:])
    short = cipher.seal("frame", "a" * 32, "text", "hello")
    assert short[:1] == b"\x01" and cipher.open("frame", "a" * 32, "text", short) == "hello"


def test_a_value_bound_to_clear_values_opens_only_with_them() -> None:
    cipher = FieldCipher(os.urandom(32))
    sealed = cipher.seal("vault", "id1", "secret", "X1234567", bound="4|1700000000000000||1|2")
    assert sealed[:1] == b"\x03" and cipher.is_bound(sealed)
    assert cipher.open("vault", "id1", "secret", sealed, bound="4|1700000000000000||1|2", legacy=False) == "X1234567"
    for bound in ("3|1700000000000000||1|2", "4|1700000000000001||1|2", None):
        with pytest.raises(TamperedField):
            cipher.open("vault", "id1", "secret", sealed, bound=bound)
    with pytest.raises(TamperedField):  # passing it off as an unbound value does not get past the tag
        cipher.open("vault", "id1", "secret", b"\x01" + sealed[1:], bound="4|1700000000000000||1|2")
    unbound = cipher.seal("vault", "id1", "secret", "X1234567")
    assert cipher.open("vault", "id1", "secret", unbound, bound="4|1700000000000000||1|2") == "X1234567"
    with pytest.raises(TamperedField):  # once the store is upgraded, an unbound value is not accepted in its place
        cipher.open("vault", "id1", "secret", unbound, bound="4|1700000000000000||1|2", legacy=False)
