"""Scrubbing credentials out of anything that may be logged.

Every credential Lucent issues starts with ``luc_``; the ``api_key`` query parameter may also carry
a string that is not a well-formed key, so URLs and query strings are scrubbed by name too.

A secret must be found in whatever spelling the server accepts, not only the one a regular
expression expects: ``?api%5Fkey=luc%5Fpk%5F...`` authenticates exactly like ``?api_key=luc_pk_...``
because the server percent-decodes the query before it reads it. So the text is searched as
written *and* as it reads once percent-decoded (and again, up to ``MAX_DECODINGS`` times, for a
credential nested in a URL inside a parameter, which is encoded twice), and every span found in
any of those readings is replaced in the text *as written*. The output keeps its encoding (a
``%0A`` in a path stays three characters and cannot start a forged log line); only the secrets go.

``+`` is not decoded: in a query it stands for a space, and a space can be part of neither a
credential nor the name ``api_key``, so reading it as one could only end a match early; read as
``+`` it stays inside an ``api_key`` value, which is then redacted whole.

This runs on every log line of every function (``lucent.observability``): a line holding none of
the words a secret needs (``luc_``, ``api_key=``...) and no ``%XX`` escape, nearly every line, is
returned after a few substring checks; a rule's regular expression runs only on a line (or a
decoded reading) holding one of its words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "[REDACTED]"
# A server decodes once; two more readings catch a credential nested in an encoded URL.
MAX_DECODINGS = 3

# Three rules, each run only on a line holding one of its words (checked on the lower-cased line,
# several times cheaper than the regular expressions): a credential by its prefix (any ASCII case:
# over-redacting costs nothing); the value of an ``api_key=`` parameter; the value of a JSON field
# named like a secret (an API Gateway event logged whole carries the key and the bearer token
# under these names, and a mistyped key is not credential-shaped but is still almost a secret).
# Each rule's group 1 is the secret part.
_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # Every kind: public keys, API keys, OAuth access tokens, legacy MCP keys, OAuth refresh
    # tokens (ort) and client secrets (ocs); the last two are base64url, so '-' and '_' too.
    (("luc_",), re.compile(r"(?ai)(luc_(?:pk|api|oat|mcp|ort|ocs)_[a-z0-9_-]*)")),
    (("api_key=",), re.compile(r"(?ai)api_key=([^&\s\"']*)")),
    (
        ('"api_key"', '"authorization"', '"x-lucent-api-key"', '"cookie"'),
        re.compile(
            r"(?ai)\"(?:api_key|authorization|x-lucent-api-key|cookie)\"\s*:\s*\[?\s*"
            r"\"((?:[^\"\\]|\\.)*)\""
        ),
    ),
)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_SECRET_HEADERS = frozenset({"authorization", "x-lucent-api-key", "cookie"})


def redact_text(text: str) -> str:
    """``text`` with every credential and ``api_key`` value, in any percent-encoding, replaced."""
    spans = _secret_spans(text)
    if not spans:
        return text
    out: list[str] = []
    written = 0
    for start, end in _merged(spans):
        out += (text[written:start], REDACTED)
        written = end
    out.append(text[written:])
    return "".join(out)


def redact_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {
        name: (REDACTED if name.lower() in _SECRET_HEADERS else redact_text(value))
        for name, value in (headers or {}).items()
    }


def redact_query(params: Mapping[str, str] | None) -> dict[str, str]:
    return {
        name: (REDACTED if name.lower() == "api_key" else redact_text(value))
        for name, value in (params or {}).items()
    }


# --- internals ---------------------------------------------------------------------------------


def _spans_in(view: str) -> list[tuple[int, int]]:
    """Where ``view`` holds a secret, by the rules whose words it holds."""
    lowered = view.lower()
    spans: list[tuple[int, int]] = []
    for words, pattern in _RULES:
        for word in words:
            if word in lowered:
                spans += [match.span(1) for match in pattern.finditer(view)]
                break
    return spans


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that hold a secret in ``text`` itself or in a decoded reading of it."""
    spans = _spans_in(text)
    view = text
    origin: list[int] | None = None  # view index -> index in ``text`` (one past the end too)
    for _ in range(MAX_DECODINGS):
        if "%" not in view:
            break
        decoded = _percent_decode(view)
        if decoded is None:
            break
        view, starts = decoded
        origin = starts if origin is None else [origin[i] for i in starts]
        spans += [(origin[start], origin[end]) for start, end in _spans_in(view)]
    return spans


def _percent_decode(text: str) -> tuple[str, list[int]] | None:
    """``text`` with each ``%XX`` as one character, and where each character starts in ``text``.

    A byte above 0x7F becomes the Latin-1 character of that value: still one character per
    escape, and never part of a credential. None when ``text`` holds no escape.
    """
    pieces: list[str] = []
    starts: list[int] = []
    written = 0
    for match in _ESCAPE.finditer(text):
        at = match.start()
        pieces += (text[written:at], chr(int(text[at + 1 : at + 3], 16)))
        starts.extend(range(written, at + 1))
        written = match.end()
    if not pieces:
        return None
    pieces.append(text[written:])
    starts.extend(range(written, len(text) + 1))
    return "".join(pieces), starts


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans, overlapping or touching ones joined (one ``[REDACTED]`` for each run)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
