import json
from pathlib import Path

import pytest

from storage.keys import KeyFileError, KeyVault, VaultLocked, WrongPassphrase

from conftest import FAST_KDF


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys.json"


def make(key_file: Path, passphrase: str = "first passphrase") -> tuple[KeyVault, str]:
    return KeyVault.create(key_file, passphrase, target_seconds=FAST_KDF)


def test_unlock_with_the_right_passphrase_gives_the_same_keys(key_file: Path) -> None:
    vault, _ = make(key_file)
    keys = vault.keys
    again = KeyVault.load(key_file)
    assert not again.is_unlocked
    again.unlock("first passphrase")
    assert again.keys == keys
    assert len({keys.content, keys.index, keys.rotation, keys.blobs}) == 4  # independent sub-keys


def test_wrong_passphrase_is_a_clear_error_and_changes_nothing(key_file: Path) -> None:
    make(key_file)
    before = key_file.read_bytes()
    vault = KeyVault.load(key_file)
    with pytest.raises(WrongPassphrase, match="Wrong passphrase"):
        vault.unlock("second passphrase")
    assert not vault.is_unlocked
    assert key_file.read_bytes() == before


def test_kdf_is_argon2id_with_at_least_64_mib(key_file: Path) -> None:
    make(key_file)
    kdf = json.loads(key_file.read_text())["kdf"]
    assert kdf["name"] == "argon2id" and kdf["memory_kib"] >= 64 * 1024 and len(kdf["salt"]) >= 16


def test_weakened_kdf_parameters_are_refused(key_file: Path) -> None:
    make(key_file)
    data = json.loads(key_file.read_text())
    data["kdf"]["memory_kib"] = 1024  # an attacker lowering the cost of guessing
    key_file.write_text(json.dumps(data))
    with pytest.raises(KeyFileError, match="tampered"):
        KeyVault.load(key_file)


@pytest.mark.parametrize(("key", "value"), [
    ("iterations", 10**6), ("memory_kib", 16 * 1024 * 1024), ("memory_kib", 2**32), ("lanes", 10**4),
    ("iterations", "many"), ("name", "scrypt"), ("salt", None),
])
def test_kdf_parameters_out_of_range_are_refused_at_once(key_file: Path, key: str, value: object) -> None:
    """Raised costs would hang unlock or exhaust memory; junk would be a traceback."""
    make(key_file)
    data = json.loads(key_file.read_text())
    data["kdf"][key] = value
    key_file.write_text(json.dumps(data))
    with pytest.raises(KeyFileError):
        KeyVault.load(key_file)


def test_any_edit_of_the_header_breaks_the_unwrap(key_file: Path) -> None:
    make(key_file)
    data = json.loads(key_file.read_text())
    data["kdf"]["iterations"] += 1  # still allowed, but not what the key was wrapped with
    key_file.write_text(json.dumps(data))
    with pytest.raises(WrongPassphrase):
        KeyVault.load(key_file).unlock("first passphrase")


def test_change_passphrase_rewraps_the_same_key_and_keeps_recovery(key_file: Path) -> None:
    vault, recovery = make(key_file)
    keys = vault.keys
    vault.change_passphrase("a new one", target_seconds=FAST_KDF)
    with pytest.raises(WrongPassphrase):
        KeyVault.load(key_file).unlock("first passphrase")
    fresh = KeyVault.load(key_file)
    fresh.unlock("a new one")
    assert fresh.keys == keys
    by_recovery = KeyVault.load(key_file)
    by_recovery.unlock_with_recovery_key(recovery)
    assert by_recovery.keys == keys


def test_recovery_key_is_forgiving_about_case_and_dashes(key_file: Path) -> None:
    vault, recovery = make(key_file)
    again = KeyVault.load(key_file)
    again.unlock_with_recovery_key(recovery.lower().replace("-", " "))
    assert again.keys == vault.keys
    with pytest.raises(WrongPassphrase):
        KeyVault.load(key_file).unlock_with_recovery_key("AAAA-" * 7 + "AAAA")


def test_lock_drops_the_keys(key_file: Path) -> None:
    vault, _ = make(key_file)
    vault.lock()
    assert not vault.is_unlocked
    with pytest.raises(VaultLocked):
        vault.keys


def test_create_refuses_to_overwrite_and_load_reports_damage(key_file: Path) -> None:
    make(key_file)
    with pytest.raises(KeyFileError, match="already exists"):
        make(key_file)
    key_file.write_text("{not json")
    with pytest.raises(KeyFileError, match="unreadable"):
        KeyVault.load(key_file)
    with pytest.raises(KeyFileError, match="engram init"):
        KeyVault.load(key_file.parent / "missing.json")


def test_tuning_picks_more_iterations_for_a_longer_target(key_file: Path) -> None:
    from storage.keys import KdfParams

    quick = KdfParams.tuned(64, 0.01)
    slow = KdfParams.tuned(64, 2.0)
    assert quick.iterations == 1 and slow.iterations > 1


def test_the_recovery_key_opens_where_the_passphrase_is_asked_and_forgives_0_for_o_and_1_for_i(
        key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.keys.generate_recovery_key", lambda: "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567")
    vault, recovery = make(key_file)
    typed = recovery.lower().replace("o", "0").replace("i", "1").replace("-", " ")   # as read off the paper
    by_recovery = KeyVault.load(key_file)
    assert by_recovery.unlock_with_either(typed) == "recovery key" and by_recovery.keys == vault.keys
    by_passphrase = KeyVault.load(key_file)
    assert by_passphrase.unlock_with_either("first passphrase") == "passphrase" and by_passphrase.keys == vault.keys
    for wrong in ("not it", "AAAA-" * 7 + "AAAA"):
        with pytest.raises(WrongPassphrase):
            KeyVault.load(key_file).unlock_with_either(wrong)
