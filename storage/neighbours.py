"""A chat turn is indexed with the turns around it.

A question about a conversation is rarely answered by words of one turn alone:
"What did Caroline research?" is answered by "Researching adoption agencies"
said right after Caroline spoke of adopting. So a message's blind tokens also
hold the words of the two turns on each side (its own words count twice, so the
turn that says it still comes first), and its vector is the mean of its own
meaning and that of its turn with one neighbour on each side. Measured on
LoCoMo (bench/locomo_retrieval.py): keyword R@10 0.62 -> 0.75, hybrid 0.70 -> 0.79.

Neighbours are taken from the batch being written (an imported chat is written
as one batch), in time order within one conversation; the stored text is only
the turn's own. Nothing here sees a secret the turns themselves don't: masking
happens before the batch reaches the store. A forgotten turn takes its words out
of its neighbours too: they are indexed again on their own (MemoryStore._index_alone).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from storage.memory import Memory

# Turns on each side whose words are indexed with a turn, and whose meaning is mixed into its vector.
WORDS_AROUND = 2
MEANING_AROUND = 1


@dataclass(frozen=True)
class Context:
    words: str      # the turn and its neighbours, indexed after the turn's own words (so those count twice)
    passage: str    # the turn with its nearest neighbours, embedded beside the turn alone


def conversation_context(memories: Sequence[Memory]) -> dict[str, Context]:
    """For each message in `memories` that has a neighbour in the same conversation: its context."""
    conversations: dict[tuple[str, str], list[Memory]] = defaultdict(list)
    for memory in memories:
        conversation = memory.fields.get("conversation") if memory.kind == "message" else None
        if conversation:  # notes added one by one without a conversation are not each other's context
            conversations[(memory.app, str(conversation))].append(memory)
    context: dict[str, Context] = {}
    for turns in conversations.values():
        if len(turns) < 2:
            continue
        turns.sort(key=lambda m: m.time)
        texts = [m.index_text() for m in turns]
        for i, memory in enumerate(turns):
            around = texts[max(0, i - WORDS_AROUND):i + 1 + WORDS_AROUND]
            passage = texts[max(0, i - MEANING_AROUND):i + 1 + MEANING_AROUND]
            context[memory.id] = Context("\n".join(around), "\n".join(passage))
    return context
