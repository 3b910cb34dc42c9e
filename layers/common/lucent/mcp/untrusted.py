"""Page content in the text of tool results, rendered so that it cannot pass for ours.

Titles, selectors, texts, URLs, details and summaries come from recordings, and anyone holding
an organization's public key (it is in every page of theirs) writes recordings. An agent reads
a tool's text as instructions and data mixed, so one stored newline could add a forged issue
line to ``get_issue``. Every such field is therefore shown as exactly one JSON string literal:
line breaks, controls, invisible and reordering characters, and ``<`` become ``\\uXXXX``
escapes, the value is clipped to a fixed length, and a URL that is not http(s) is shown as a
marker instead. Whatever detection or any other writer stored, the text stays one line per item
(docs/mcp.md, "Untrusted page content in tool text"). ``structuredContent`` is JSON already and
is left as it is.
"""

from __future__ import annotations

import re
from json.encoder import encode_basestring

# Longest shown, in code points (the escaped form is longer: at most 12 characters for one).
LABEL_LIMIT = 300  # titles, selectors, element texts
URL_LIMIT = 500  # URLs and details (an error message, a network request)
SUMMARY_LIMIT = 1_000  # insight summaries
ID_LIMIT = 128  # a stored id that is not of the form we issue

NOT_HTTP_URL = "(not an http(s) URL)"

# What json.dumps(ensure_ascii=False) leaves as it is but must not reach the agent raw: every
# control, format (bidi embeddings and isolates, zero-width characters, the BOM, soft hyphen,
# Unicode tags, which hide text from people and not from models), surrogate, private-use and
# line or paragraph separator code point (general categories Cc, Cf, Cs, Co, Zl, Zp; a test
# checks this against the running Python's Unicode database), the variation selectors (also
# used to smuggle hidden bytes), and "<" so that no markup or pseudo-tag opens.
ESCAPED = re.compile(
    "["
    "\x00-\x1f<\x7f-\x9f\xad"
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ud800-\uf8ff"  # surrogates and the private use area, which follows them
    "\ufe00-\ufe0f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef\U000f0000-\U0010ffff"
    "]"
)
# What json.dumps(value, ensure_ascii=False) does to a str, without its per-call set-up.
_json_string = encode_basestring
_HTTP = re.compile(r"https?://", re.IGNORECASE)
# The ids we issue (iss_…, sig_…, cred_…) and session ids: shown bare when of this form.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _escape(code: int) -> str:
    if code > 0xFFFF:  # a JSON escape is UTF-16: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


class _Escapes(dict[int, str]):
    """``str.translate``'s table: a code point to its escape, or to itself, decided on first
    sight. A callback per match (``re.sub``) costs several times more on a value that is all
    escapes; at most ``_ESCAPES_KEPT`` answers are kept, so no input grows it without bound."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        shown = _escape(code) if ESCAPED.match(char) else char
        if len(self) < _ESCAPES_KEPT:
            self[code] = shown
        return shown


_ESCAPES_KEPT = 4_096
_ESCAPES = _Escapes()


def quote(value: object, limit: int) -> str:
    """``value`` as one JSON string literal of at most ``limit`` code points of it; a longer
    one is clipped and marked: ``"abc..." (4,812 characters)``, the original length after."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        shown = text[:limit] + "..."
        suffix = f" ({len(text):,} characters)"
    else:
        shown, suffix = text, ""
    literal = _json_string(shown)
    if shown.isascii():  # the common case; json has escaped C0 already
        literal = literal.replace("<", "\\u003c").replace("\x7f", "\\u007f")
    else:
        literal = literal.translate(_ESCAPES)
    return literal + suffix


def label(value: object) -> str:
    """A title, selector or element text."""
    return quote(value, LABEL_LIMIT)


def detail(value: object) -> str:
    """A signal's or timeline entry's detail: an error message, a request, a count."""
    return quote(value, URL_LIMIT)


def summary(value: object) -> str:
    return quote(value, SUMMARY_LIMIT)


def url(value: object) -> str:
    """A page URL: quoted if it is http(s), else the marker, never the value (``javascript:``,
    ``data:``, a relative path or leading blanks alike)."""
    if not isinstance(value, str) or _HTTP.match(value) is None:
        return NOT_HTTP_URL
    return quote(value, URL_LIMIT)


def url_in_parens(value: object) -> str:
    """``("https://…")``, or the marker, which has its parentheses already."""
    shown = url(value)
    return shown if shown == NOT_HTTP_URL else f"({shown})"


def identifier(value: object) -> str:
    """An id: bare when it has the form of the ids we issue, else quoted like page content (a
    record another writer left may hold anything); ``-`` when there is none."""
    if value is None:
        return "-"
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
        return value
    return quote(value, ID_LIMIT)
