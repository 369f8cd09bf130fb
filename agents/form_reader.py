"""The fields of an HTML form and what each is called, as a person filling it would read them.

A label is found the way browsers and screen readers find it: `<label for=id>`,
a `<label>` wrapping the input, `aria-label`, `aria-labelledby`, then the
`placeholder`, and last the field's `name`/`id` made readable ("first_name" ->
"first name"). Hidden, submit, checkbox and similar inputs are not fields to fill.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_SKIP_TYPES = frozenset({"hidden", "submit", "button", "reset", "checkbox", "radio", "file", "image", "password"})
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass(frozen=True)
class FormField:
    key: str        # name, else id: what the value is submitted as
    label: str


def read_form(html: str) -> list[FormField]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    fields = []
    for attrs, wrapping_label in parser.inputs:
        key = attrs.get("name") or attrs.get("id") or ""
        label = (parser.label_for.get(attrs.get("id", ""), "") or wrapping_label or attrs.get("aria-label", "")
                 or " ".join(parser.text_of_id.get(i, "") for i in attrs.get("aria-labelledby", "").split()).strip()
                 or attrs.get("placeholder", "") or _readable(key))
        if key or label:
            fields.append(FormField(key or label, " ".join(label.split()).rstrip(" *:")))
    return fields


def _readable(key: str) -> str:
    return " ".join(_CAMEL.sub(" ", key).replace("_", " ").replace("-", " ").replace("[", " ").replace("]", " ").split())


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inputs: list[tuple[dict[str, str], str]] = []
        self.label_for: dict[str, str] = {}
        self.text_of_id: dict[str, str] = {}
        self._label: list[str] | None = None
        self._label_target = ""
        self._label_inputs: list[int] = []
        self._open_ids: list[tuple[str, str, list[str]]] = []  # (tag, id, text) of elements with an id

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attrs_list}
        if tag == "label":
            self._label, self._label_target, self._label_inputs = [], attrs.get("for", ""), []
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and attrs.get("type", "text").lower() in _SKIP_TYPES:
                return
            self.inputs.append((attrs, ""))
            if self._label is not None and not self._label_target:
                self._label_inputs.append(len(self.inputs) - 1)
        if attrs.get("id") and tag not in ("input", "select", "textarea"):
            self._open_ids.append((tag, attrs["id"], []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None:
            text = " ".join("".join(self._label).split())
            if self._label_target:
                self.label_for[self._label_target] = text
            for index in self._label_inputs:
                self.inputs[index] = (self.inputs[index][0], text)
            self._label = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            _, element_id, pieces = self._open_ids.pop()
            self.text_of_id[element_id] = " ".join("".join(pieces).split())

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)
        for _, _, pieces in self._open_ids:
            pieces.append(data)
