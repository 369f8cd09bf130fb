"""Resources the user worked with, found in screen text and window titles.

The resource manager wants to know which links, files and documents were on
screen without asking a model: URLs and file paths have shapes of their own,
and editors, office suites and browsers put the open document's name in the
window title in a few well-known ways ("Q3 report.docx - LibreOffice Writer",
"Design doc - Google Docs - Google Chrome").

Findings from `text` carry spans in `text`; findings from `title` carry spans
in `title` (resources are never masked, the span is only provenance). Each
resource is reported once, at its first occurrence, text before title.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from agents.findings import Finding

__all__ = ["find_resources"]


def find_resources(text: str, title: str = "", app: str = "") -> list[Finding]:
    """URLs and file paths in `text` and `title`, and the document named by `title`."""
    found = [*_links_and_paths(text), *_links_and_paths(title)]
    document = _document(title, app)
    if document is not None:
        found.append(document)
    seen: set[tuple[str, str]] = set()
    unique = []
    for finding in found:
        if (finding.entry_type, finding.value) not in seen:
            seen.add((finding.entry_type, finding.value))
            unique.append(finding)
    return unique


def _links_and_paths(text: str) -> list[Finding]:
    urls = list(_urls(text))
    # A path inside a URL ("example.com/a/b") is part of the URL, not a file.
    paths = [p for p in _paths(text) if all(p.end <= u.start or p.start >= u.end for u in urls)]
    return sorted(urls + paths, key=lambda f: f.start)


# --- URLs -------------------------------------------------------------------------------

_URL = re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`{}|\\^]+")
_TRAILING = ".,;:!?'\"*"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _urls(text: str) -> Iterator[Finding]:
    for m in _URL.finditer(text):
        end = _url_end(text, m.start(), m.end())
        url = text[m.start():end]
        host = urlsplit(url if "://" in url else "//" + url).hostname or ""
        if "." in host:
            yield Finding("resource", "url", url, m.start(), end, host, False)


def _url_end(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation and closing brackets that the URL did not open."""
    while end > start:
        last = text[end - 1]
        opener = _CLOSERS.get(last)
        if last in _TRAILING or opener and text.count(opener, start, end) < text.count(last, start, end):
            end -= 1
        else:
            return end
    return end


# --- File paths -------------------------------------------------------------------------

_POSIX_PATH = re.compile(r"(?<![\w/.~:@%-])(?:~/|/)(?:[\w.@+~%-]+/)*[\w.@+~%-]*")
_WINDOWS_PATH = re.compile(r"(?<![\w])[A-Za-z]:\\(?:[^\\/:*?\"<>|\r\n\t]+\\)*[^\\/:*?\"<>|\r\n\t]*")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}(?![A-Za-z0-9])")
_PATH_TRAILING = ".,;:!?)'\""
_PATH_SEPARATOR = re.compile(r"[/\\]")


def _paths(text: str) -> Iterator[Finding]:
    for m in _POSIX_PATH.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in _PATH_TRAILING:
            end -= 1
        path = text[m.start():end]
        parts = [p for p in path.split("/") if p and p != "~"]
        # "/etc" or "/s" alone is too often not a path; a file name or two levels is.
        if parts and (path.startswith("~/") or len(parts) >= 2 or _EXTENSION.search(parts[0])):
            yield _file(path, m.start(), end)
    yield from _windows_paths(text)


def _windows_paths(text: str) -> Iterator[Finding]:
    # Searched by hand: the next path may begin inside the words this match took ("C:\temp and D:\x").
    m: re.Match[str] | None = _WINDOWS_PATH.search(text)
    while m:
        end = m.start() + _windows_path_length(m.group())
        if end - m.start() > 3:
            yield _file(text[m.start():end], m.start(), end)
        m = _WINDOWS_PATH.search(text, max(end, m.start() + 1))


def _windows_path_length(path: str) -> int:
    """Where the path ends: folder names may hold spaces, but the last part ends at its
    extension, or at the first space when it has none ("C:\\Users\\Ana and then")."""
    head = path.rfind("\\") + 1
    tail = path[head:]
    extension = _EXTENSION.search(tail)
    if extension:
        return head + extension.end()
    tail = tail.split(" ", 1)[0].rstrip(_PATH_TRAILING)
    return head + len(tail)


def _file(path: str, start: int, end: int) -> Finding:
    name = _PATH_SEPARATOR.split(path.rstrip("/\\"))[-1] or path
    return Finding("resource", "file", path, start, end, name, False)


# --- Documents from window titles -------------------------------------------------------

_BROWSERS = frozenset({
    "google chrome", "chromium", "mozilla firefox", "firefox", "microsoft edge", "edge", "brave", "safari",
    "opera", "vivaldi", "epiphany", "web",
})
# Apps whose title is "document - app"; the whole left part is the document's name.
_DOCUMENT_APPS = {name.lower(): name for name in (
    "LibreOffice Writer", "LibreOffice Calc", "LibreOffice Impress", "LibreOffice Draw", "LibreOffice",
    "Word", "Microsoft Word", "Excel", "Microsoft Excel", "PowerPoint", "Microsoft PowerPoint", "OneNote",
    "Google Docs", "Google Sheets", "Google Slides", "Pages", "Numbers", "Keynote", "ONLYOFFICE",
    "Document Viewer", "Evince", "Okular", "Adobe Acrobat Reader", "Adobe Acrobat Reader DC", "Acrobat Reader",
    "Preview", "Notion", "Obsidian", "Typora", "Overleaf", "Figma", "Xournal++", "Zathura",
)}
# Editors put the workspace between the file and the app: "README.md - engram - Visual Studio Code".
_EDITORS = {name.lower(): name for name in (
    "Visual Studio Code", "Code - OSS", "VSCodium", "Cursor", "Sublime Text", "Atom", "Notepad++", "Notepad",
    "gedit", "Text Editor", "Kate", "KWrite", "Mousepad", "Xed", "Pluma", "TextEdit", "Zed",
)}
_STATUS_SEGMENTS = frozenset({"edited", "saved", "modified", "saving…", "saving..."})
_TITLE_SEPARATOR = re.compile(r"\s+[-–—|]\s+")
_APP_VERSION = re.compile(r"\s+v?\d+(?:\.\d+)+$")
# Decorations around the name: unsaved markers, "[Read-Only]", "(Compatibility Mode)", "(~/Documents)".
_NAME_DECORATION = re.compile(r"^[●•*\s]+|(?:\s+[(\[][^)\]]*[)\]])+$|\*$")
_UNTITLED = re.compile(r"(?i)^(?:untitled|unbenannt|sem título|sin título|new tab|new document|document\d*"
                       r"|book\d*|presentation\d*|welcome|get started|settings|extensions)\b")
_DOCUMENT_EXTENSION = re.compile(
    r"(?i)\.(?:docx?|xlsx?|xlsm|pptx?|od[tspg]|pdf|rtf|txt|md|markdown|csv|tsv|tex|epub|pages|numbers|key"
    r"|json|ya?ml|toml|xml|html?|ipynb|py|js|ts|rs|go|java|c|cpp|h|sh)$")


def _document(title: str, app: str) -> Finding | None:
    segments = _segments(title)
    while segments and segments[-1][2].lower() in _BROWSERS | _STATUS_SEGMENTS:
        segments.pop()
    if not segments:
        return None
    app_name = _APP_VERSION.sub("", segments[-1][2])
    known = _EDITORS.get(app_name.lower()) or _DOCUMENT_APPS.get(app_name.lower())
    if known and len(segments) > 1:
        segments.pop()
        start, end = segments[0][0], (segments[0] if app_name.lower() in _EDITORS else segments[-1])[1]
        return _named_document(title, start, end, known)
    start, end, first = segments[0]
    # An unknown app: only a name that is plainly a file counts as a document.
    if _DOCUMENT_EXTENSION.search(_NAME_DECORATION.sub("", first)):
        caption = app or (segments[-1][2] if len(segments) > 1 else "")
        return _named_document(title, start, end, caption)
    return None


def _segments(title: str) -> list[tuple[int, int, str]]:
    segments, start = [], 0
    for sep in _TITLE_SEPARATOR.finditer(title):
        segments.append((start, sep.start(), title[start:sep.start()]))
        start = sep.end()
    segments.append((start, len(title), title[start:]))
    return [s for s in segments if s[2].strip()]


def _named_document(title: str, start: int, end: int, caption: str) -> Finding | None:
    raw = title[start:end]
    name = _NAME_DECORATION.sub("", raw).strip()
    if not name or _UNTITLED.match(name):
        return None
    start += raw.find(name)
    return Finding("resource", "document", name, start, start + len(name), caption, False)
