"""Scrubbing credentials out of anything that may be logged.

Every credential Lucent issues starts with ``luc_``; the ``api_key`` query parameter may also carry
a string that is not a well-formed key, so URLs and query strings are scrubbed by name too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "[REDACTED]"
_CREDENTIAL = re.compile(r"luc_(?:pk|api|oat|mcp)_[A-Za-z0-9]*")
_API_KEY_PARAM = re.compile(r"(?i)(api_key=)[^&\s\"']*")
_SECRET_HEADERS = frozenset({"authorization", "x-lucent-api-key", "cookie"})


def redact_text(text: str) -> str:
    return _API_KEY_PARAM.sub(r"\1" + REDACTED, _CREDENTIAL.sub(REDACTED, text))


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
