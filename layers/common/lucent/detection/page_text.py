"""Text taken from a recording, made safe to show: the one cleaner of page content
(docs/detection.md, "Page content is untrusted"; docs/decisions/018-detection-page-content.md).

Titles, selectors, element texts, details and URLs of signals, issues and timeline entries are
written by whoever controls the recorded page, and are read by people and by agents (MCP) as
lines of text. ``clean`` keeps them to one line of visible characters: a line break, a control
character, bidi override or invisible character could otherwise forge a line, reorder what is
shown, or hide text from a person that an agent still reads.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Read at most this many characters per character kept: a text padded with millions of invisible
# or blank characters costs what a short one does.
_READ_PER_KEPT = 4
_READ_EXTRA = 16

# Shown as a space: C0 and C1 controls, DEL, and the line and paragraph separators.
_BREAKS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
# Removed: bidi embeddings, overrides, isolates and marks; zero-width characters and joiners;
# BOM and word joiner; invisible operators and deprecated format characters; interlinear
# annotation characters; tag characters (invisible ASCII look-alikes); lone surrogates (which
# no UTF-8 encoder accepts).
_INVISIBLE = (
    "\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U000e0000-\U000e007f\ud800-\udfff"
)
_BREAK = re.compile(f"[{_BREAKS}]")
_INVISIBLE_CHAR = re.compile(f"[{_INVISIBLE}]")
_SPACES = re.compile(r"\s+")
# What a URL shows percent-encoded instead (the URL stays a URL): the above, and white space.
_URL_UNSAFE = re.compile(f"[{_BREAKS}{_INVISIBLE}\\s]")


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut text ends with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(text: str, limit: int) -> str:
    """One line of visible text: breaks and controls become spaces, invisible and bidi control
    characters go, runs of white space become one space, the ends are trimmed, and the result is
    clipped to ``limit`` characters. Reads at most ``4 * limit + 16`` characters of ``text``."""
    head = text[: limit * _READ_PER_KEPT + _READ_EXTRA]
    head = _INVISIBLE_CHAR.sub("", _BREAK.sub(" ", head))
    return clip(_SPACES.sub(" ", head).strip(), limit)


def clean_url(url: str, limit: int) -> str:
    """A URL with every character ``clean`` would change percent-encoded (as UTF-8), clipped to
    ``limit`` characters."""
    head = url[: limit * _READ_PER_KEPT + _READ_EXTRA]
    return clip(_URL_UNSAFE.sub(_percent, head), limit)


def _percent(match: re.Match[str]) -> str:
    return quote(match.group().encode("utf-8", "surrogatepass"), safe="")
