"""Standing facts the user states about themself, found without a model.

Core memory is always in the prompt, so a wrong fact there does lasting harm:
this module trades recall for precision. It only reads plain first-person
statements ("my name is Ana Lima", "I'm allergic to peanuts") and drops a
whole clause when it is a question, a hypothetical, a negation or someone
else's words ("she said", a quote, a "Tom:" chat prefix). Deciding whether a
message's speaker is the user is the caller's job (it knows the user's names);
here a speaker that is plainly a model or a system yields nothing.

`value` is a short fact in the user's words ("Lives in Lisbon", "Name: Ana
Lima"); `start`/`end` cover the statement it came from.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from agents.findings import Finding

__all__ = ["find_core_facts"]

_MACHINE_SPEAKERS = frozenset({
    "assistant", "system", "bot", "ai", "model", "tool", "function", "developer", "llm", "engram", "chatgpt", "gpt",
    "claude", "gemini", "copilot", "bard",
})


def find_core_facts(text: str, speaker: str = "") -> list[Finding]:
    """First-person facts in `text`, once each, in text order."""
    if speaker.strip().lower() in _MACHINE_SPEAKERS:
        return []
    text = text.replace("’", "'")  # one character for another: spans stay valid
    facts: list[Finding] = []
    for start, end in _clauses(text):
        if not _is_plain_statement(text[start:end]):
            continue
        for entry_type, pattern, build in _FACTS:
            for m in pattern.finditer(text, start, end):
                if not _opens_statement(text, start, m.start()):
                    continue
                value = build(m)
                if value and all((f.entry_type, f.value) != (entry_type, value) for f in facts):
                    facts.append(Finding("core", entry_type, value, m.start(), m.end(),
                                         _CAPTIONS[entry_type], False))
    return sorted(facts, key=lambda f: f.start)


# --- Clauses and the statements that do not count ---------------------------------------

_CLAUSE_BREAK = re.compile(r"[.!?;\n]+|,?\s+(?:but|although|though|because|whereas)\s+|,?\s+and\s+(?=I\b)")
_WORD_BEFORE = re.compile(r"(\w+)$")
_LAST_WORD = re.compile(r"([\w']+)[ \t]*$")
_FIRST_WORD = re.compile(r"\W*(\w+)")
_FRONTED = frozenset({
    "for", "on", "in", "at", "with", "during", "after", "before", "from", "as", "since", "generally", "usually",
    "normally", "mostly", "nowadays", "these", "lately", "recently", "today", "overall", "honestly", "personally",
})
_LEAD_INS = frozenset({
    "and", "so", "also", "really", "honestly", "personally", "actually", "just", "still", "yes", "yeah", "yep", "oh",
    "well", "now", "cause", "'cause", "plus", "anyway", "too", "hey", "hi", "hello", "ok", "okay", "lol", "haha",
    "btw", "fyi", "fact", "course", "sure",
})
_ABBREVIATIONS = frozenset({"dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd", "co", "corp", "mt"})
_OTHER_SPEAKER = re.compile(r"(?m)^[ \t]*(?!(?:Me|You|I)[ \t]*:)[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,2}[ \t]*:")
_CHAT_HEADER = re.compile(r"(?m)^\W{0,3}\d{1,4}[./-]\d{1,2}[./-]\d{1,4},?\s+\d{1,2}[:.]\d{2}\b")
_QUESTION_START = re.compile(r"(?i)^\W*(?:what|who|whom|where|when|why|how|which|whose|do|does|did|am|are|is"
                             r"|was|were|can|could|would|should|will|shall|have|has|had|may|might|must)\b")
_NOT_A_STATEMENT = re.compile(
    r"(?i)\b(?:if|unless|whether|would|wouldn't|could|couldn't|might|maybe|perhaps|probably|wish|imagine|suppose"
    r"|pretend|hypothetically|used to|not|never|no longer|anymore|any more|nor|neither|cannot"
    r"|said|says|say|told|tells|tell|asked|asks|ask|wrote|writes|claims?|claimed|thinks?|thought|believes?"
    r"|heard|according|replied|replies|joked|quote|quoting)\b|n't\b|[\"“”«»]")


def _clauses(text: str) -> Iterator[tuple[int, int]]:
    others = _other_speaker_lines(text)
    start = 0
    for m in _CLAUSE_BREAK.finditer(text):
        if _is_inside_token(text, m):
            continue
        if not any(s <= start <= e for s, e in others):
            yield start, m.start() + (1 if m.group().startswith("?") else 0)
        start = m.end()
    if not any(s <= start <= e for s, e in others):
        yield start, len(text)


def _other_speaker_lines(text: str) -> list[tuple[int, int]]:
    """The lines that begin "Tom: ..." (someone else talking), and everything from a chat header on
    ("02/01/2026, 10:01 - Tom: ...": a chat's lines pasted or glued into a message are not the user's)."""
    lines = []
    for m in _OTHER_SPEAKER.finditer(text):
        line_end = text.find("\n", m.start())
        lines.append((m.start(), len(text) if line_end < 0 else line_end))
    header = _CHAT_HEADER.search(text)
    if header:
        lines.append((header.start(), len(text)))
    return lines


def _is_inside_token(text: str, m: re.Match[str]) -> bool:
    """A full stop in "Dr. Lima", "3.5" or "12.05.1990" does not end a clause."""
    if m.group() != ".":
        return False
    before = _WORD_BEFORE.search(text, max(0, m.start() - 20), m.start())
    after = text[m.end():m.end() + 1]
    return bool(before and (before.group(1).lower() in _ABBREVIATIONS or before.group(1).isdigit() and after.isdigit()))


def _opens_statement(text: str, clause_start: int, match_start: int) -> bool:
    """ "I love X" must start its clause or follow a lead-in ("yes, I", "and I"); after a
    noun it is a relative clause about that noun ("something I love is awesome")."""
    before = _LAST_WORD.search(text, clause_start, match_start)
    if before is None or before.group(1).lower() in _LEAD_INS:
        return True
    # "For flights I prefer ...", "These days I live in ...": a fronted phrase, not a noun's clause.
    first = _FIRST_WORD.match(text, clause_start, match_start)
    return bool(first and first.group(1).lower() in _FRONTED)


def _is_plain_statement(clause: str) -> bool:
    return not (clause.rstrip().endswith("?") or _QUESTION_START.match(clause) or _NOT_A_STATEMENT.search(clause))


# --- What a fact looks like -------------------------------------------------------------

_H = r"[ \t]+"
_I = r"\b[Ii]"
_I_AM = rf"\b[Ii](?:'m|{_H}am)"
_NAME_WORD = r"[A-ZÀ-Þ][a-zà-ÿ]*(?:['-][A-ZÀ-Þ]?[a-zà-ÿ]+)*"
_FULL_NAME = (rf"{_NAME_WORD}(?:{_H}(?:(?:da|de|do|dos|das|van|von|der|den|del|di|du|le|la|bin|al){_H})?"
              rf"{_NAME_WORD}){{0,3}}")
_CAP_WORD = r"[A-ZÀ-Þ][\wÀ-ÿ'.-]*"
_PLACE = (rf"(?:the{_H})?{_CAP_WORD}(?:(?:{_H}(?:de|da|do|dos|das|del|la|le|am|an|der|upon|sur|en))?{_H}{_CAP_WORD})"
          rf"{{0,3}}(?:,[ \t]*{_CAP_WORD}(?:{_H}{_CAP_WORD}){{0,2}})?")
_ORG_WORD = r"[A-Z0-9][\w&'@.-]*"
_ORG = rf"(?:the{_H})?{_ORG_WORD}(?:{_H}(?:(?:of|and|&|de|for){_H})?{_ORG_WORD}){{0,4}}"
_ROLE_WORD = r"(?!(?:at|for|in|and|but|since|from|with|on|of|who|that)\b)[A-Za-z][\w-]*"
_ROLE = rf"{_ROLE_WORD}(?:{_H}{_ROLE_WORD}){{0,3}}"
_PHRASE = r"[A-Za-zÀ-ÿ][\w'-]*(?:[ \t]+[\w'-]+)*"
_MONTH = (r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
          r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = (rf"(?:(?:the{_H})?{_ORD}(?:{_H}of)?{_H}{_MONTH}(?:,?{_H}\d{{4}})?|{_MONTH}{_H}{_ORD}(?:,?{_H}\d{{4}})?"
         r"|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})(?!\w)")
_LANGUAGES = (
    "English", "Portuguese", "Spanish", "French", "German", "Italian", "Dutch", "Swedish", "Norwegian", "Danish",
    "Finnish", "Icelandic", "Polish", "Czech", "Slovak", "Hungarian", "Romanian", "Bulgarian", "Greek", "Turkish",
    "Russian", "Ukrainian", "Serbian", "Croatian", "Slovenian", "Arabic", "Hebrew", "Persian", "Farsi", "Hindi",
    "Urdu", "Bengali", "Punjabi", "Tamil", "Telugu", "Chinese", "Mandarin", "Cantonese", "Japanese", "Korean",
    "Vietnamese", "Thai", "Indonesian", "Malay", "Tagalog", "Swahili", "Catalan", "Basque", "Galician", "Welsh",
    "Irish", "Latin", "Esperanto", "Afrikaans", "Estonian", "Latvian", "Lithuanian",
)
_LANGUAGE = "(?:" + "|".join(_LANGUAGES) + r")\b"
_LANGUAGE_LEVEL = rf"(?:(?:fluent|some|basic|native|good|decent|a{_H}little|a{_H}bit{_H}of){_H})?"
_LANGUAGE_LIST = rf"{_LANGUAGE_LEVEL}{_LANGUAGE}(?:(?:,?{_H}(?:and|&){_H}|,[ \t]*){_LANGUAGE_LEVEL}{_LANGUAGE})*"
_RELATIVES = {
    "wife": "Wife", "husband": "Husband", "partner": "Partner", "boyfriend": "Boyfriend", "girlfriend": "Girlfriend",
    "fiance": "Fiancé", "fiancé": "Fiancé", "fiancee": "Fiancée", "fiancée": "Fiancée", "daughter": "Daughter",
    "son": "Son", "mother": "Mother", "mom": "Mother", "mum": "Mother", "father": "Father", "dad": "Father",
    "sister": "Sister", "brother": "Brother", "grandmother": "Grandmother", "grandma": "Grandmother",
    "grandfather": "Grandfather", "grandpa": "Grandfather", "aunt": "Aunt", "uncle": "Uncle", "cousin": "Cousin",
    "niece": "Niece", "nephew": "Nephew", "baby": "Baby",
}
_PETS = {"dog": "Dog", "cat": "Cat"}
# Capitalised words that follow "my ... is" or "call me" without being a name.
_NOT_NAMES = frozenset({
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Today", "Tomorrow", "Tonight",
    "January", "February", "March", "April", "June", "July", "August", "September", "October", "November",
    "December", "Dr", "Mr", "Mrs", "Ms", "Prof", "Sir", "Madam", "Maybe", "Later", "Back", "Here", "Home", "Ok",
    "Okay", "Fine", "Sick", "Ill", "American", "British", "Canadian", "Brazilian", "Mexican", "Indian",
    "Australian", "Catholic", "Christian", "Muslim", "Jewish", "Buddhist", "Hindu", "Asap", "The", "A", "An",
    *_LANGUAGES,
})
# Objects of like/love/hate that point at one thing now, not a standing taste.
_NOT_TASTES = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "you", "your", "him", "her", "them", "us",
    "me", "my", "his", "our", "their", "what", "how", "when", "where", "who", "which", "to", "some", "any", "one",
    "both", "all", "every", "each", "myself", "yourself", "so", "too", "very", "really", "lol", "u", "ur", "ya",
    "is", "are", "was", "were", "be", "been", "has", "have", "had", "do", "does", "did", "will", "can", "makes",
})
# A taste that points at something in the conversation ("making him happy", "this trail") is no standing one.
_POINTING = frozenset({"it", "this", "that", "these", "those", "him", "her", "them", "he", "she", "they", "you"})
_LEADING_ADVERBS = frozenset({"also", "really", "just", "still", "truly", "absolutely", "totally"})
# "I'm a big fan of", "I'm a bit late at": "a ..." that is no job.
_NOT_ROLES = frozenset({"bit", "little", "lot", "fan", "big", "huge", "regular", "guest", "visitor", "customer"})
_PHRASE_STOP = re.compile(r"(?i)[ \t]*(?:,|\b(?:when|if|as|so|since|though|right now|today|now|too|as well"
                          r"|a lot|very much|so much|lol|anyway|tbh)\b).*$")


def _name(m: re.Match[str]) -> str | None:
    name = m.group("v")
    return None if name.split()[0] in _NOT_NAMES else f"Name: {name}"


def _family(m: re.Match[str]) -> str | None:
    name = m.group("v")
    relation = m.group("rel").lower()
    return None if name.split()[0] in _NOT_NAMES else f"{_RELATIVES.get(relation) or _PETS[relation]}: {name}"


def _phrase(m: re.Match[str], max_words: int = 6) -> str | None:
    words = _PHRASE_STOP.sub("", m.group("v")).split()
    while words and words[0].lower() in _LEADING_ADVERBS:
        words.pop(0)
    if not words or words[0].lower() in _NOT_TASTES or len(words) > max_words \
            or any(w.lower().strip(",.!") in _POINTING for w in words):
        return None
    return " ".join(words)


def _prefixed(prefix: str, read: Callable[[re.Match[str]], str | None] = lambda m: m.group("v")
              ) -> Callable[[re.Match[str]], str | None]:
    def build(m: re.Match[str]) -> str | None:
        value = read(m)
        return f"{prefix}{value.strip(' ,')}" if value else None
    return build


def _taste(m: re.Match[str]) -> str | None:
    verb = {"like": "Likes", "love": "Loves", "hate": "Hates", "dislike": "Dislikes", "adore": "Adores",
            "enjoy": "Enjoys", "prefer": "Prefers"}[m.group("verb").lower()]
    phrase = _phrase(m)
    return f"{verb} {phrase}" if phrase else None


def _work_role(m: re.Match[str]) -> str | None:
    role = m.group("v")
    words = role.lower().split()
    noun_start = words[1] if words[0] in ("a", "an") and len(words) > 1 else words[0]
    if noun_start in _NOT_ROLES:
        return None
    org = m.group("org")
    return f"Works as {role}" + (f" at {org}" if org else "")


def _diet(m: re.Match[str]) -> str | None:
    return m.group("v").replace("-", " ").capitalize()


def _relation(words: dict[str, str]) -> re.Pattern[str]:
    """ "my wife is (called) X", "my dog's name is X" for these relation words."""
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    return re.compile(rf"(?i:\bmy{_H}(?:(?:older|younger|little|big|eldest|oldest|youngest){_H})?"
                      rf"(?P<rel>{alternatives})(?!\w)(?:'s{_H}name{_H}is|{_H}is{_H}(?:called|named)|{_H}is))"
                      rf"{_H}(?P<v>{_FULL_NAME})")


_CAPTIONS = {"name": "Name", "home": "Home", "work": "Work", "preference": "Preference", "allergy": "Allergy",
             "diet": "Diet", "birthday": "Birthday", "family": "Family", "pet": "Pet", "language": "Language"}
_FACTS: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]], ...] = (
    ("name", re.compile(rf"(?i:\bmy{_H}(?:full{_H}|first{_H})?name(?:{_H}is|'s)){_H}(?P<v>{_FULL_NAME})"), _name),
    ("name", re.compile(rf"{_I_AM}{_H}(?i:called|named){_H}(?P<v>{_FULL_NAME})"), _name),
    ("name", re.compile(rf"(?i:\bcall{_H}me){_H}(?P<v>{_NAME_WORD})(?![\w-])"), _name),
    ("home", re.compile(rf"{_I}{_H}(?:currently{_H}|now{_H})?(?:live|reside){_H}in{_H}(?P<v>{_PLACE})"),
     _prefixed("Lives in ")),
    ("home", re.compile(rf"{_I_AM}{_H}(?:currently{_H}|now{_H})?(?:based|living){_H}in{_H}(?P<v>{_PLACE})"),
     _prefixed("Lives in ")),
    ("home", re.compile(rf"{_I}(?:'ve|{_H}have)?{_H}(?:just{_H}|recently{_H})?moved{_H}to{_H}(?P<v>{_PLACE})"),
     _prefixed("Lives in ")),
    ("work", re.compile(rf"{_I}{_H}(?:currently{_H}|now{_H})?work{_H}(?P<prep>at|for){_H}(?P<v>{_ORG})"),
     _prefixed("Works at ")),
    ("work", re.compile(rf"{_I}{_H}work{_H}as{_H}(?P<v>(?:an?{_H})?{_ROLE})(?:{_H}(?:at|for){_H}(?P<org>{_ORG}))?"),
     _work_role),
    ("work", re.compile(rf"{_I_AM}{_H}(?P<v>an?{_H}{_ROLE}){_H}(?:at|for){_H}(?P<org>{_ORG})"), _work_role),
    ("preference", re.compile(rf"{_I}{_H}(?:(?:really|much|strongly|always|generally|usually|absolutely){_H})?"
                             rf"(?P<verb>prefer|like|love|hate|dislike|adore|enjoy){_H}(?P<v>{_PHRASE})"), _taste),
    ("allergy", re.compile(rf"{_I_AM}{_H}(?:(?:very|severely|mildly|slightly|highly){_H})?allergic{_H}to{_H}"
                          rf"(?P<v>{_PHRASE})"), _prefixed("Allergic to ", _phrase)),
    ("allergy", re.compile(rf"{_I}{_H}have{_H}an?{_H}(?:(?:severe|mild|bad){_H})?(?P<v>[a-z][\w-]*(?:{_H}[a-z][\w-]*)?)"
                          rf"{_H}allergy\b"), _prefixed("Allergic to ")),
    ("diet", re.compile(rf"{_I_AM}{_H}(?:(?:a|an|strictly|fully|now){_H})?(?P<v>(?i:vegetarian|vegan|pescatarian"
                       r"|pescetarian|lactose[- ]intolerant|gluten[- ]intolerant|coeliac|celiac|kosher|halal))"
                       r"(?=[ \t]*(?:$|[,.;!]|(?:and|now|too|since|so|but)\b))"), _diet),
    ("birthday", re.compile(rf"(?i:\bmy{_H}(?:birthday|bday|date{_H}of{_H}birth)(?:{_H}is|'s))(?:{_H}on)?{_H}"
                           rf"(?P<v>{_DATE})"), _prefixed("Birthday: ")),
    ("birthday", re.compile(rf"{_I}{_H}was{_H}born{_H}on{_H}(?P<v>{_DATE})"), _prefixed("Birthday: ")),
    ("birthday", re.compile(rf"{_I}{_H}was{_H}born{_H}in{_H}(?P<v>(?:19|20)\d{{2}})(?!\w)"), _prefixed("Born in ")),
    ("family", _relation(_RELATIVES), _family),
    ("pet", _relation(_PETS), _family),
    ("language", re.compile(rf"{_I}{_H}(?:also{_H})?speak{_H}(?P<v>{_LANGUAGE_LIST})"), _prefixed("Speaks ")),
    ("language", re.compile(rf"{_I_AM}{_H}(?:also{_H})?fluent{_H}in{_H}(?P<v>{_LANGUAGE_LIST})"),
     _prefixed("Speaks ")),
)
