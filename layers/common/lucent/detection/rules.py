"""Every threshold and naming rule of detection, in one place (docs/detection.md lists them).

Pure functions: the same input always gives the same output, which is what makes re-running
detection (duplicates, retries, concurrent invocations) give the same signals and issues.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import urlsplit

from lucent.detection.page_text import clean, clean_url
from lucent.detection.page_text import clip as _clip

clip = _clip  # what mirror.py imports from here

# --- thresholds ----------------------------------------------------------------------------------

RAGE_CLICK_MIN_CLICKS = 3
RAGE_CLICK_MAX_GAP_MS = 1_000  # each click within this of the previous one...
RAGE_CLICK_MAX_DISTANCE_PX = 30  # ...and within this Manhattan distance of it
DEAD_CLICK_WINDOW_MS = 2_500
ERROR_CLICK_WINDOW_MS = 1_000
SCROLL_BURST_GAP_MS = 1_000  # scrolls closer than this to the previous one are one burst
NETWORK_ERROR_MIN_STATUS = 500
MAX_TEXT_CHARS = 80
MAX_DETAIL_CHARS = 200
MAX_TITLE_CHARS = 120
# How far up from the clicked node an actionable ancestor is looked for (a <span> in a <button>).
ACTIONABLE_ANCESTOR_DEPTH = 5
# Selector segments at most, from the element up (a segment with an id ends the path earlier).
MAX_SELECTOR_DEPTH = 6
MAX_STABLE_CLASSES = 2
# Severity goes up one level at each of these counts of distinct sessions affected.
SEVERITY_SESSION_STEPS = (10, 100)

# --- bounds: page content is hostile (docs/detection.md, "Page content is untrusted") ---------

MAX_URL_CHARS = 1024  # a page URL, and a request's path template
MAX_SELECTOR_CHARS = 1024
MAX_METHOD_CHARS = 10
# Characters of a console message, or of a stack frame, read before normalising it.
MAX_MESSAGE_SCAN_CHARS = 4096
# A console argument is decoded as JSON (an Error object's message) only up to this size and
# nesting; past either it is read as the text it is.
MAX_CONSOLE_JSON_CHARS = 64 * 1024
MAX_CONSOLE_JSON_DEPTH = 16
# Open click windows: dead-click candidates, and clicks an error may follow. A person cannot
# click this often within a window; further clicks are not tracked (and counted).
MAX_PENDING_CLICKS = 50
MAX_RECENT_CLICKS = 50
# Signals, and timeline entries other than a signal's own, per batch and per session.
MAX_SIGNALS_PER_BATCH = 500
MAX_SIGNALS_PER_SESSION = 5_000
MAX_ENTRIES_PER_BATCH = 5_000
MAX_ENTRIES_PER_SESSION = 50_000
# Event timestamps a date holds (1970-01-01 to 9999-12-31, epoch ms): others are dropped.
MIN_TIMESTAMP_MS = 0
MAX_TIMESTAMP_MS = 253_402_300_799_999
# Distinct ids and classes whose stability is remembered.
STABLE_NAME_CACHE_SIZE = 4096

ACTIONABLE_TAGS = frozenset({"a", "button", "label", "summary", "select"})
ACTIONABLE_INPUT_TYPES = frozenset({"submit", "button", "checkbox", "radio"})

SEVERITIES = ("low", "medium", "high", "critical")
BASE_SEVERITY = {
    "dead_click": "low",
    "rage_click": "medium",
    "js_error": "medium",
    "network_error": "medium",
    "error_click": "high",
}

SYSTEM_ACTOR = "system:detection"


# --- URLs ----------------------------------------------------------------------------------------


def page_url(href: object) -> str:
    """An http(s) page URL without user info, query or fragment (those carry passwords, tokens,
    emails and search terms), at most MAX_URL_CHARS; "" for anything else (``javascript:``,
    ``data:``, a relative reference): no page."""
    if not isinstance(href, str) or not href:
        return ""
    try:
        parts = urlsplit(href[: MAX_URL_CHARS * 4])
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme not in ("http", "https") or not host:
        return ""
    return clean_url(f"{parts.scheme}://{host}{parts.path or '/'}", MAX_URL_CHARS)


def url_path(url: str) -> str:
    """The path of a page URL (``/checkout``): the page part of an issue's fingerprint."""
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "/"


_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{12,}|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,})$"
)


def path_template(url: str) -> str:
    """``/api/orders/123/items/9f8e...`` -> ``/api/orders/:id/items/:id`` (no host, no query)."""
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        path = "/"
    return "/".join(":id" if _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


# --- messages ------------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?|wss?|file|blob|data):[^\s'\"()<>]+", re.IGNORECASE)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEX_ID = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")
# How the console plugin words uncaught errors and rejections; the error itself follows.
_UNCAUGHT = re.compile(r"^Uncaught (?:\(in promise\) )?")


def normalise_message(message: str) -> str:
    """An error message with what varies between occurrences replaced: URLs, ids, numbers."""
    text = _UNCAUGHT.sub("", message[:MAX_MESSAGE_SCAN_CHARS].strip()).split("\n", 1)[0]
    text = _URL.sub("<url>", text)
    text = _UUID.sub("<id>", text)
    text = _HEX_ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return clean(_SPACES.sub(" ", text), MAX_DETAIL_CHARS)


_FRAME_ORIGIN = re.compile(r"(?:https?|file)://[^/\s)]+", re.IGNORECASE)
_FRAME_QUERY = re.compile(r"[?#][^\s:)]*")


def normalise_frame(frame: str) -> str:
    """A stack frame without origin, query or fragment: they differ between deployments and
    between sessions, the file, line and column do not."""
    text = _FRAME_QUERY.sub("", _FRAME_ORIGIN.sub("", frame[:MAX_MESSAGE_SCAN_CHARS]))
    return clean(_SPACES.sub(" ", text), MAX_DETAIL_CHARS)


# --- DOM names -----------------------------------------------------------------------------------

_STABLE_NAME = re.compile(r"^-?[A-Za-z_][A-Za-z0-9_-]*$")
_DIGIT_RUN = re.compile(r"\d{3,}")
_GENERATED_PREFIXES = ("css-", "sc-", "jsx-", "emotion-", "svelte-", "ember", "_")


MAX_STABLE_NAME_CHARS = 40


def is_stable_name(name: str) -> bool:
    """An id or class written by a person, not generated per build or per render."""
    return 0 < len(name) <= MAX_STABLE_NAME_CHARS and is_stable_short_name(name)


# Only short names reach the cache, and only so many: a page can make up any number of them.
@functools.lru_cache(maxsize=STABLE_NAME_CACHE_SIZE)
def is_stable_short_name(name: str) -> bool:
    """is_stable_name for a name already known to be 1 to MAX_STABLE_NAME_CHARS long."""
    return (
        _STABLE_NAME.match(name) is not None
        and _DIGIT_RUN.search(name) is None
        and not name.startswith(_GENERATED_PREFIXES)
    )


_PLAIN_IDENT = re.compile(r"[A-Za-z0-9_-]*")
_IDENT_SPECIAL = re.compile(r"([^A-Za-z0-9_-])")


def css_ident(name: str) -> str:
    """Escape what CSS needs escaped in an identifier (stable names rarely need it)."""
    if _PLAIN_IDENT.fullmatch(name):
        return name
    return _IDENT_SPECIAL.sub(r"\\\1", name)


# --- fingerprints, titles, severity ------------------------------------------------------------


def fingerprint(kind: str, url: str, key: str) -> str:
    """Kind + URL path (no query) + selector or error fingerprint: what groups signals."""
    return f"{kind}\x1f{url_path(url)}\x1f{key}"


def fingerprint_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def severity(kind: str, sessions_affected: int) -> str:
    """The kind's base level, one level up at each step of distinct sessions affected."""
    level = SEVERITIES.index(BASE_SEVERITY.get(kind, "medium"))
    level += sum(1 for step in SEVERITY_SESSION_STEPS if sessions_affected >= step)
    return SEVERITIES[min(level, len(SEVERITIES) - 1)]


def title(kind: str, selector: str | None, message: str | None = None) -> str:
    element = selector or "an unknown element"
    if kind == "rage_click":
        text = f"Rage clicks on {element}"
    elif kind == "dead_click":
        text = f"Dead clicks on {element}"
    elif kind == "error_click":
        text = f"Error after clicking {element}"
    elif kind == "network_error":
        text = f"Failing request: {message}"
    else:
        text = message or "JavaScript error"
    return clip(text, MAX_TITLE_CHARS)
