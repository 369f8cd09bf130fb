"""ChatGPT data export: `conversations.json`.

Each conversation is a tree of message nodes (every edit or regenerated answer
starts a branch). Only the branch the user last saw is imported: from
`current_node` back through `parent` links to the root.
"""
from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from storage.memory import Memory, TimeOutOfRange, from_unix

from agents.importers.files import ImportFailed, looks_like, read_json
from agents.importers.turns import Messages
from agents.ownership import OTHER_TAG, USER_TAG

HELP = "ChatGPT data export: conversations.json (the branch you last saw of each chat)"
SPEAKERS = {"user": "You", "assistant": "ChatGPT"}  # system and tool messages are not part of the talk
TEXT_TYPES = ("text", "multimodal_text")            # not code runs, browsing results, custom instructions


def parse(path: Path, tz: tzinfo | None = None) -> list[Memory]:
    """tz is unused: ChatGPT gives Unix times."""
    data = read_json(path)
    conversations = [data] if isinstance(data, dict) and "mapping" in data else data
    if not isinstance(conversations, list) or not all(isinstance(c, dict) and isinstance(c.get("mapping"), dict)
                                                      for c in conversations):
        raise ImportFailed(path, "not a ChatGPT conversations.json: expected a list of conversations, "
                                 "each with a 'mapping' of messages" + looks_like(data))
    messages = Messages(path, "chatgpt", "ChatGPT")
    for number, conversation in enumerate(conversations, 1):
        try:
            _add_conversation(messages, path, number, conversation)
        except (AttributeError, TypeError, KeyError):  # a field of an unexpected type somewhere inside
            raise ImportFailed(path, f"conversation {number}: not in the ChatGPT export layout") from None
        except TimeOutOfRange as exc:
            raise ImportFailed(path, f"conversation {number}: {exc}") from None
    return messages.result()


def _add_conversation(messages: Messages, path: Path, number: int, conversation: dict[str, Any]) -> None:
    key = str(conversation.get("id") or conversation.get("conversation_id") or f"#{number}")
    title = str(conversation.get("title") or "")
    started = _unix(conversation.get("create_time"))
    for node in _active_branch(path, number, conversation["mapping"], conversation.get("current_node")):
        message = node.get("message")
        if not isinstance(message, dict):
            continue  # the root node holds no message
        role, text = _role(message), _text(message)
        time = _unix(message.get("create_time")) or started
        if role not in SPEAKERS or not text:
            continue
        if time is None:
            raise ImportFailed(path, f"conversation {number}: a message without any time")
        # The author's role, not the "You" it is shown as, says the line is the user's.
        messages.add(conversation=key, title=title, key=str(node.get("id") or message.get("id")),
                     speaker=SPEAKERS[role], text=text, time=time, tags=(USER_TAG if role == "user" else OTHER_TAG,))


def _active_branch(path: Path, number: int, mapping: dict[str, Any], current: Any) -> list[dict[str, Any]]:
    node_id = current if current in mapping else _last_leaf(mapping)
    branch: list[dict[str, Any]] = []
    seen: set[str] = set()
    while node_id is not None:
        node = mapping.get(node_id)
        if not isinstance(node, dict) or node_id in seen:
            raise ImportFailed(path, f"conversation {number}: its message tree is broken "
                                     "(a missing or looping parent link)")
        seen.add(node_id)
        branch.append(node)
        node_id = node.get("parent")
    return branch[::-1]


def _last_leaf(mapping: dict[str, Any]) -> str | None:
    """Older exports lack `current_node`: follow the newest child from the root instead."""
    node_id = next((k for k, n in mapping.items() if isinstance(n, dict) and n.get("parent") is None), None)
    while node_id is not None and mapping[node_id].get("children"):
        node_id = mapping[node_id]["children"][-1]
        if node_id not in mapping:
            return None
    return node_id


def _role(message: dict[str, Any]) -> str | None:
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    metadata = message.get("metadata") or {}
    if message.get("recipient", "all") != "all" or metadata.get("is_visually_hidden_from_conversation"):
        return None  # a call to a tool, or context the app itself hides
    return role if isinstance(role, str) else None


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if not isinstance(content, dict) or content.get("content_type") not in TEXT_TYPES:
        return ""
    parts = content.get("parts") or []
    # Images and files are dicts (asset pointers) among the parts; only the words are kept.
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip()).strip()


def _unix(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return from_unix(value)
    return None
