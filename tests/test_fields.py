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
