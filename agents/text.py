"""From a model's raw answer to the one sentence that is embedded and posted.

The paper asks for EXACTLY one concise sentence; small models add list markers, "Answer:" labels, quotes,
markdown, or run on. :func:`first_sentence` keeps the first sentence of the first line with text.
"""

from __future__ import annotations

import re

__all__ = ["first_sentence"]

_LEAD = re.compile(
    r"""^(?:
        \s+
      | [-*•·>#]+\s*                      # bullets, quotes, headings
      | \(?\d{1,2}[.)]\s+                  # 1. 2) (3)
      | (?:answer|a|response|sentence)\s*[:\-–]\s*   # labels
      | \*\*|__                            # bold markers
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_ABBREVIATIONS = {
    "e.g",
    "i.e",
    "etc",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "inc",
    "ltd",
    "co",
    "corp",
    "jr",
    "sr",
    "st",
    "approx",
    "est",
    "no",
    "fig",
    "u.s",
    "u.k",
    "e.u",
    "a.m",
    "p.m",
}
_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")


def _strip_lead(line: str) -> str:
    previous = None
    while previous != line:
        previous = line
        line = _LEAD.sub("", line, count=1)
    return line


def first_sentence(raw: str) -> str:
    """The first sentence of the first non-empty line, without list markers, labels, markdown or wrapping
    quotes; "" when there is no text. A line with no sentence end (the answer was cut off) is kept whole."""
    for line in raw.replace("\r", "\n").split("\n"):
        line = _strip_lead(line.strip()).replace("**", "").replace("__", "")
        line = " ".join(line.split()).strip("\"'“”‘’` ")
        if not any(ch.isalnum() for ch in line):
            continue
        for match in _END.finditer(line):
            before = line[: match.start()].split(" ")[-1].lower().lstrip("(\"'“")
            if match.group().startswith(".") and (before in _ABBREVIATIONS or len(before) == 1):
                continue  # "U.S." "e.g." "Dr." or an initial
            return line[: match.end()].strip("\"'“”‘’` ")
        return line
    return ""
