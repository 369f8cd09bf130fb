"""Telegram Desktop export: `result.json` (machine-readable JSON).

Either one chat (`{name, type, id, messages}`) or the full account export
(`{chats: {list: [...]}, left_chats: {list: [...]}}`). A message's `text` is a
string or a list of strings and entity objects (`{type: "bold", text}`).
Service messages (joins, calls, pins) are not part of the talk and are skipped.
"""
from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from storage.memory import Memory, TimeOutOfRange, from_unix

from agents.importers.files import ImportFailed, looks_like, read_json
from agents.importers.turns import Messages, local_time
from agents.ownership import OTHER_TAG, UNKNOWN_TAG, USER_TAG

HELP = "Telegram Desktop export: result.json, one chat or the whole account (JSON format)"


def parse(path: Path, tz: tzinfo | None = None) -> list[Memory]:
    """tz is only for old exports without `date_unixtime`, whose dates are local wall-clock times."""
    data = read_json(path)
    chats = _chats(data)
    if chats is None:
        raise ImportFailed(path, "not a Telegram result.json: expected a chat with 'messages' "
                                 "or an export with 'chats'" + looks_like(data))
    messages = Messages(path, "telegram", "Telegram")
    info = data.get("personal_information")  # a full export's own account; data is a dict once chats were found
    me = info.get("user_id") if isinstance(info, dict) else None
    for number, chat in enumerate(chats, 1):
        try:
            _add_chat(messages, path, number, chat, tz, me)
        except TimeOutOfRange as exc:  # a ValueError: caught first
            raise ImportFailed(path, f"chat {number}: {exc}") from None
        except (AttributeError, TypeError, KeyError, ValueError):  # a field of an unexpected type or form
            raise ImportFailed(path, f"chat {number}: not in the Telegram export layout") from None
    return messages.result()


def _chats(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("messages"), list):
        return [data]
    if isinstance(data.get("chats"), dict):
        lists = [part.get("list") for k in ("chats", "left_chats") if isinstance(part := data.get(k), dict)]
        return [chat for found in lists if isinstance(found, list) for chat in found]
    return None


def _add_chat(messages: Messages, path: Path, number: int, chat: dict[str, Any], tz: tzinfo | None,
              me: Any) -> None:
    key = str(chat.get("id", f"#{number}"))
    title = str(chat.get("name") or ("Saved Messages" if chat.get("type") == "saved_messages" else ""))
    for message in chat.get("messages", []):
        if message.get("type") != "message":
            continue  # "service": someone joined, a call, a pinned message
        text = _text(message.get("text", "")).strip()
        if not text:
            continue  # a sticker, a photo without a caption, ...
        messages.add(conversation=key, title=title, key=str(message.get("id")),
                     speaker=str(message.get("from") or "Deleted Account"), text=text, time=_time(message, tz),
                     tags=_whose(message, chat, me))


def _whose(message: dict[str, Any], chat: dict[str, Any], me: Any) -> tuple[str, ...]:
    """Whether the sender id is the user's: the account's own id in a full export; in a one-chat export,
    a personal chat's id is the other person's. A group exported alone does not say which account exported
    it, and a display name ("Me", the user's own name) is anyone's to choose: its lines are not the user's.
    A forwarded message is its author's, not the forwarder's."""
    sender = message.get("from_id")
    if message.get("forwarded_from") is not None:
        return (OTHER_TAG,)  # the user passing on someone else's words
    if me is not None:
        return (USER_TAG,) if isinstance(sender, str) and sender == f"user{me}" else (OTHER_TAG,)
    if chat.get("type") == "saved_messages":
        return (USER_TAG,)
    if isinstance(sender, str) and chat.get("type") == "personal_chat" and chat.get("id") is not None:
        return (OTHER_TAG,) if sender == f"user{chat['id']}" else (USER_TAG,)
    return (UNKNOWN_TAG,)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in value)
    raise TypeError("message text is neither a string nor a list")


def _time(message: dict[str, Any], tz: tzinfo | None) -> datetime:
    if "date_unixtime" in message:
        return from_unix(int(message["date_unixtime"]))
    return local_time(datetime.fromisoformat(message["date"]), tz)
