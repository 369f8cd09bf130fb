"""Whose a chat line is, and whose a vault item is.

Only the user's own lines may say things about the user: core memory, and the
vault values autofill offers as the user's. Where an export's structure says
who wrote a line (ChatGPT's author role, Telegram's sender ids), the importer
records it as a tag on the message, and a display name can never overrule it (a
contact may share the user's first name, or be called "Me"); where it cannot tell
(a Telegram group exported alone), the line is nobody's known own. Formats without
that structure (WhatsApp, JSON Lines, LoCoMo) fall back to the names the user
configured (`agents.user_names`), which only the digester knows.

A vault item that came from anyone else's line is tagged with who said it and
is never offered by autofill; a later line of the user's with the same value
makes it the user's.

A screen says nothing about whose a value is (a guest list, a hotel's address,
a colleague's IBAN): a vault item found on screen is tagged "seen on screen",
keeps the window it came from, never replaces a value the user gave, and is
offered by autofill only once the user confirmed it (their own line with the
same value, or their edit, which makes its trust "user").
"""
from __future__ import annotations

from collections.abc import Iterable

from storage.memory import Trust

# On messages: the export says the user wrote it / someone else did.
USER_TAG = "from:user"
OTHER_TAG = "from:other"
# On messages: the export has the structure to say whose a line is, and it does not say it is the user's
# (a Telegram group exported alone: its sender ids never name the exporting account). Not the user's,
# whatever the sender's display name ("Me", the user's own name).
UNKNOWN_TAG = "from:unknown"
# On vault items: "said-by:Tom", the value belongs to (or was given by) someone else.
SAID_BY = "said-by:"
# On vault items: found on a screen, whose unknown; their caption says so until the user confirms them.
SEEN_ON_SCREEN = "seen-on-screen"
SEEN_CAPTION = " (seen on screen)"
# Speakers that are the user when a line has no tag: Engram's own chat says "user", and messages
# imported before the tags existed "You" (ChatGPT).
USER_SPEAKERS = frozenset({"user", "you", "me"})


def is_users_line(speaker: str, tags: Iterable[str], user_names: frozenset[str] = frozenset()) -> bool:
    """Whether a message is the user's: by its import tag if it has one, else by the speaker's name."""
    tags = set(tags)
    if tags & {USER_TAG, OTHER_TAG, UNKNOWN_TAG}:
        return USER_TAG in tags
    name = speaker.strip().lower()
    return name in USER_SPEAKERS or name in user_names


def said_by_tag(speaker: str) -> str:
    return SAID_BY + (speaker.strip() or "someone else")


def said_by(tags: Iterable[str]) -> str | None:
    """Who gave a vault item's value when it is not the user's; None for the user's own."""
    return next((t[len(SAID_BY):] for t in tags if t.startswith(SAID_BY)), None)


def without_said_by(tags: Iterable[str]) -> list[str]:
    return [t for t in tags if not t.startswith(SAID_BY)]


def seen_on_screen(tags: Iterable[str]) -> bool:
    return SEEN_ON_SCREEN in tags


def offered_as_users(tags: Iterable[str], trust: Trust) -> bool:
    """Whether autofill may give a vault item as the user's: not someone else's, and not only seen on a
    screen unless the user vouched for it (screen items are filed at most "observed")."""
    tags = list(tags)
    return said_by(tags) is None and (not seen_on_screen(tags) or trust >= Trust.USER)
