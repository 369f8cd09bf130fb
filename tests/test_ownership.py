"""Whose details they are: only the user's own lines fill the user's fields.

Imported chats run through the real importers, the real digester and autofill on
a real store: what another speaker writes (an assistant's venue contacts, a
friend's IBAN, advice that starts "Password: Use ...") is kept as theirs, with
secrets still masked, and never offered as the user's.
"""
from __future__ import annotations

import json
from pathlib import Path

from agents.autofill import fill
from agents.importers import import_file
from agents.managers.core import CoreManager
from agents.meta import MetaMemoryManager
from agents.pipeline import Digester
from agents.router import EmbeddingRouter
from storage.memory import Memory, Trust
from storage.store import MemoryStore

FIELDS = ["E-mail", "Phone", "Street address", "ZIP", "IBAN"]
VENUE = ("Sure! Reach them at events@harbour-hall.com or 555-555-5555. They are at "
         "1600 Amphitheatre Parkway, Mountain View, CA 94043. The deposit goes to "
         "IBAN GB82 WEST 1234 5698 7654 32.\nPassword: Use a long one for the booking site.\npassword: Use")
FRIEND_IBAN = "GB82WEST12345698765432"
OWN_IBAN = "DE89370400440532013000"


def chatgpt_export(tmp_path: Path, turns: list[tuple[str, str]]) -> Path:
    mapping: dict[str, dict[str, object]] = {"root": {"id": "root", "parent": None, "children": ["n0"], "message": None}}
    for i, (role, text) in enumerate(turns):
        mapping[f"n{i}"] = {"id": f"n{i}", "parent": "root" if i == 0 else f"n{i - 1}",
                            "children": [f"n{i + 1}"] if i + 1 < len(turns) else [],
                            "message": {"id": f"m{i}", "author": {"role": role}, "create_time": 1767350000 + i,
                                        "content": {"content_type": "text", "parts": [text]}}}
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([{"id": "c1", "title": "Party venue", "create_time": 1767350000,
                                 "current_node": f"n{len(turns) - 1}", "mapping": mapping}]), encoding="utf-8")
    return path


def import_and_digest(store: MemoryStore, fmt: str, path: Path, user_names: tuple[str, ...] = ()) -> None:
    import_file(store, fmt, path)
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), user_names=user_names)).run()


def autofill(store: MemoryStore) -> dict[str, tuple[str | None, list[str]]]:
    results = fill(FIELDS, store.get(CoreManager.memory_id), store.list_range(kinds=["vault"], limit=10_000))
    return {r.label: (r.value, r.alternatives) for r in results}


def of_kind(store: MemoryStore, kind: str) -> list[Memory]:
    return store.list_range(kinds=[kind], limit=10_000)


def test_what_the_assistant_writes_never_fills_the_users_fields(store: MemoryStore, tmp_path: Path) -> None:
    path = chatgpt_export(tmp_path, [("user", "Hi! My e-mail is ana.lima@example.com, can you find a venue for my party?"),
                                     ("assistant", VENUE)])
    import_and_digest(store, "chatgpt", path)

    assert autofill(store) == {"E-mail": ("ana.lima@example.com", []), "Phone": (None, []),
                               "Street address": (None, []), "ZIP": (None, []), "IBAN": (None, [])}
    assert all(v.secret not in ("Use", "Use.") for v in of_kind(store, "vault"))
    # The venue's details are kept as what they are: mentioned by the assistant.
    mentions = {r.fields.get("uri"): r.text for r in of_kind(store, "resource")}
    assert "ChatGPT" in mentions["mailto:events@harbour-hall.com"] and "tel:5555555555" in mentions
    # The IBAN is still masked in the stored message and kept sealed in the vault only, as the assistant's.
    [answer] = [m for m in of_kind(store, "message") if m.fields["speaker"] == "ChatGPT"]
    assert "GB82" not in answer.text and "5698" not in answer.text and "events@harbour-hall.com" in answer.text
    [iban] = [v for v in of_kind(store, "vault") if v.secret == FRIEND_IBAN]
    assert "said-by:ChatGPT" in iban.tags


def test_a_friends_details_in_a_whatsapp_chat_stay_theirs_and_the_users_own_still_fill(
        store: MemoryStore, tmp_path: Path) -> None:
    chat = tmp_path / "WhatsApp Chat with Tom.txt"
    chat.write_text(
        "02/01/2026, 10:00 - Tom: Send it to me at tom.berg@example.org or call 555-555-5555\n"
        "02/01/2026, 10:01 - Tom: My flat is 221B Baker Street, London NW1 6XE\n"
        f"02/01/2026, 10:02 - Tom: IBAN {FRIEND_IBAN} please\n"
        "02/01/2026, 10:03 - Tom: password: Use\n"
        f"02/01/2026, 10:04 - Ana: Sure. My e-mail is ana.lima@example.com and my IBAN is {OWN_IBAN}\n",
        encoding="utf-8")
    import_file(store, "whatsapp", chat)
    # Right after the import nobody knows yet who Ana is: nothing is offered as the user's.
    assert autofill(store)["IBAN"] == (None, [])
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), user_names=["Ana"])).run()

    assert autofill(store) == {"E-mail": ("ana.lima@example.com", []), "Phone": (None, []),
                               "Street address": (None, []), "ZIP": (None, []),
                               "IBAN": ("DE89 3704 0044 0532 0130 00", [])}
    assert all(v.secret != "Use" for v in of_kind(store, "vault"))
    messages = " ".join(m.text for m in of_kind(store, "message"))
    assert FRIEND_IBAN not in messages and OWN_IBAN not in messages


def test_the_telegram_export_says_who_the_user_is_not_a_display_name(store: MemoryStore, tmp_path: Path) -> None:
    export = {"personal_information": {"user_id": 7001, "first_name": "Ana", "last_name": "Lima"},
              "chats": {"list": [{"name": "Ana", "type": "personal_chat", "id": 7002, "messages": [
                  {"id": 1, "type": "message", "date": "2026-01-02T10:00:00", "date_unixtime": "1767348000",
                   "from": "Ana", "from_id": "user7002", "text": "My e-mail is ana.costa@example.net, call 555-555-5555"},
                  {"id": 2, "type": "message", "date": "2026-01-02T10:01:00", "date_unixtime": "1767348060",
                   "from": "Ana Lima", "from_id": "user7001", "text": "Mine is ana.lima@example.com"},
              ]}]}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    # The other Ana shares the user's configured name; the export's sender ids tell them apart.
    import_and_digest(store, "telegram", path, user_names=("Ana", "Ana Lima"))

    values = autofill(store)
    assert values["E-mail"] == ("ana.lima@example.com", []) and values["Phone"] == (None, [])
    core = store.get(CoreManager.memory_id)
    assert core is None or "ana.costa" not in core.text


def test_an_import_that_changes_a_vault_entry_replaces_its_row(store: MemoryStore, tmp_path: Path) -> None:
    from collections import Counter

    first = chatgpt_export(tmp_path, [("user", "My passport number is X1234567, renew it?")])
    import_file(store, "chatgpt", first)
    renewed = tmp_path / "later"
    renewed.mkdir()
    text = json.loads(chatgpt_export(renewed, [("user", "My new passport number is X7654321")]).read_text())
    text[0]["id"], text[0]["mapping"]["n0"]["message"]["id"] = "c2", "m9"   # another conversation
    (renewed / "conversations.json").write_text(json.dumps(text), encoding="utf-8")
    import_file(store, "chatgpt", renewed / "conversations.json")

    ids = Counter(store.table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist())
    assert [i for i, n in ids.items() if n > 1] == []
    assert [v.secret for v in of_kind(store, "vault")] == ["X7654321"]


# -- weaker sources never replace the user's values; what a screen shows is "seen on screen" --------------------

GUEST_IBAN = "FR1420041010050500013M02606"
SCREEN = "seen-on-screen"


def digest(store: MemoryStore) -> None:
    Digester(store, MetaMemoryManager(store, EmbeddingRouter(store.embedder), user_names=["Ana"])).run()


def users_line(text: str) -> Memory:
    return Memory("message", text, {"speaker": "Ana", "conversation": "c1"}, trust=Trust.IMPORTED, source_kind="import")


def screen(text: str, title: str, trust: Trust = Trust.OBSERVED) -> Memory:
    return Memory("frame", text, {"monitor": 0}, app="gedit", title=title, trust=trust, source_kind="screen")


def fill_values(store: MemoryStore, labels: list[str]) -> dict[str, tuple[str | None, list[str]]]:
    results = fill(labels, store.get(CoreManager.memory_id), store.list_range(kinds=["vault"], limit=10_000))
    return {r.label: (r.value, r.alternatives) for r in results}


def test_a_weaker_source_never_replaces_the_users_passport_or_iban(store: MemoryStore) -> None:
    store.add([users_line(f"My passport number is X1234567 and my IBAN is {OWN_IBAN}")])
    digest(store)
    others = f"The user's passport number is Y7654321 and the user's IBAN is {FRIEND_IBAN}"
    # Someone else's lines (one typed in with `engram add message`, trusted as the user's entries are, one
    # imported), a screen as capture stores it and one as `engram add frame` does (trust user).
    store.add([Memory("message", others, {"speaker": "Bob"}),
               Memory("message", others, {"speaker": "Tom"}, trust=Trust.IMPORTED, source_kind="import"),
               screen(f"Guest list\nPassport number: Z5555555\nIBAN: {GUEST_IBAN}", "guests.txt - gedit"),
               screen(f"Passport number: W1111111\nIBAN: {FRIEND_IBAN}", "bob.txt - gedit", trust=Trust.USER)])
    digest(store)

    assert fill_values(store, ["Passport number", "IBAN"]) == {
        "Passport number": ("X1234567", []), "IBAN": ("DE89 3704 0044 0532 0130 00", [])}
    vault = {v.secret: v for v in of_kind(store, "vault")}
    # Nothing is lost: the others' values are kept as theirs, the screens' as seen on screen, with their window.
    assert {"X1234567", "Y7654321", "Z5555555", "W1111111", GUEST_IBAN, FRIEND_IBAN, OWN_IBAN} <= set(vault)
    assert SCREEN in vault["Z5555555"].tags and vault["Z5555555"].title == "guests.txt - gedit"
    assert vault["Z5555555"].text == "Passport number (seen on screen)"
    assert SCREEN in vault["W1111111"].tags and vault["W1111111"].trust <= Trust.OBSERVED
    assert vault["X1234567"].tags == [] and vault[OWN_IBAN].tags == []
    # A screen showing the IBAN Bob gave does not make it the user's.
    assert vault[FRIEND_IBAN].tags and SCREEN not in vault[OWN_IBAN].tags


def test_an_address_on_screen_is_not_the_users_unless_its_label_and_the_user_say_so(store: MemoryStore) -> None:
    notes = "TRIP PLANNING\nHotel: Casa do Alecrim\nPostal address: Rua das Flores 12, 1200-195 Lisboa\nCheck-in 15:00"
    store.add([screen(notes, "trip_notes.txt - less") for _ in range(3)])
    store.add([screen("Checkout\nShipping address: 14 Elm Street, Springfield, IL 62704\nPay now", "Shop - Firefox")])
    digest(store)

    labels = ["Postal address", "Street address", "ZIP", "City"]
    assert fill_values(store, labels) == {label: (None, []) for label in labels}
    addresses = [v for v in of_kind(store, "vault") if "address" in str(v.fields.get("entry_type"))]
    # The hotel's address has no label saying whose it is; the checkout's is kept as seen, in its window.
    assert [(a.secret, a.tags, a.title) for a in addresses] == [
        ("14 Elm Street, Springfield, IL 62704", [SCREEN], "Shop - Firefox")]
    # The user's own line with the same value confirms it.
    store.add([users_line("Send it to my address: 14 Elm Street, Springfield, IL 62704")])
    digest(store)
    assert fill_values(store, ["Street address"]) == {"Street address": ("14 Elm Street", [])}
    [address] = [v for v in of_kind(store, "vault") if "address" in str(v.fields.get("entry_type"))]
    assert address.tags == [] and address.text == "Postal address"
