"""The runnable shell examples of the README and docs/, and a match of what they print against what the page shows.

A page marks an example with `<!-- run -->` on the line before its ```bash fence. When the next
fence is marked `<!-- output -->`, it shows what the example prints: a ```json fence holds one JSON
value per command that prints one, a ```text fence the lines printed. In the shown output `…` stands
for anything (an id, a time, a date): as a whole string, at the end of a string (the rest of it),
as a list's last element (any further elements) or as an object's last member (any further keys).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ELLIPSIS = "…"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)


@dataclass
class Example:
    """One runnable block of a page and what it should print."""

    page: str
    line: int
    script: str
    output_kind: str | None = None  # "json", "text" or None (it must only succeed)
    output: str = ""


def examples(path: Path, root: Path) -> list[Example]:
    """The page's runnable examples in page order."""
    text = path.read_text()
    found: list[Example] = []
    last: Example | None = None
    for fence in FENCE.finditer(text):
        marker = text[:fence.start()].rstrip().rsplit("\n", 1)[-1].strip()
        line = text.count("\n", 0, fence.start()) + 1
        if marker == "<!-- run -->":
            if fence.group(1) != "bash":
                raise ValueError(f"{path.name}:{line}: a runnable example must be a bash fence")
            last = Example(str(path.relative_to(root)), line, fence.group(2))
            found.append(last)
        elif marker == "<!-- output -->":
            if last is None or last.output_kind is not None or fence.group(1) not in ("json", "text"):
                raise ValueError(f"{path.name}:{line}: an output fence must follow a runnable example "
                                 "and be json or text")
            last.output_kind, last.output = fence.group(1), fence.group(2)
        else:
            last = None
    return found


def json_values(text: str) -> list[Any]:
    """Every JSON value of `text`, one after the other (curl prints them without separators)."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        value, position = decoder.raw_decode(text, position)
        values.append(value)


def shown_json(text: str) -> list[Any]:
    """The JSON values a page shows, its bare `…` turned into the markers `matches` knows."""
    text = re.sub(r",\s*…\s*}", f', "{ELLIPSIS}": "{ELLIPSIS}"}}', text)
    text = re.sub(r"([\[,]\s*)…(\s*[\],])", rf'\1"{ELLIPSIS}"\2', text)
    return json_values(text)


def matches(shown: Any, printed: Any) -> bool:
    """Whether a printed value is what the page shows, `…` standing for what may differ."""
    if shown == ELLIPSIS:
        return True
    if isinstance(shown, str) and shown.endswith(ELLIPSIS):
        return isinstance(printed, str) and printed.startswith(shown[:-1])
    if isinstance(shown, list):
        if not isinstance(printed, list):
            return False
        if shown and shown[-1] == ELLIPSIS:
            head = shown[:-1]
            return len(printed) >= len(head) and all(map(matches, head, printed))
        return len(shown) == len(printed) and all(map(matches, shown, printed))
    if isinstance(shown, dict):
        if not isinstance(printed, dict):
            return False
        keys = set(shown) - {ELLIPSIS}
        if ELLIPSIS not in shown and set(printed) != keys or not keys <= set(printed):
            return False
        return all(matches(shown[key], printed[key]) for key in keys)
    return type(shown) is type(printed) and shown == printed


def text_matches(shown: str, printed: str) -> bool:
    """Line by line, `…` in a shown line standing for any text."""
    shown_lines, printed_lines = shown.rstrip("\n").splitlines(), printed.rstrip("\n").splitlines()
    return len(shown_lines) == len(printed_lines) and all(
        re.fullmatch(".*".join(map(re.escape, want.split(ELLIPSIS))), got.rstrip())
        for want, got in zip(shown_lines, printed_lines))
