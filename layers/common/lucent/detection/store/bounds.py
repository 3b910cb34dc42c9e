"""What page content may become in an item: every text clipped, every replay offset bounded,
so that no item detection writes can outgrow DynamoDB's 400 KB (docs/storage.md)."""

from __future__ import annotations

from typing import Any

MAX_TEXT_CHARS = 2048  # 8 KB of UTF-8 at most
MAX_ENTRY_TEXT_CHARS = 1024
# Offsets past ~31,000 years are page content nonsense; DynamoDB numbers hold 38 digits.
MAX_REPLAY_MS = 10**15


def clip_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Page content bounded before it is stored: whatever the detector let through, no text
    attribute can make an item outgrow DynamoDB's limit."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def replay_ms(value: Any) -> int:
    return min(max(int(value), 0), MAX_REPLAY_MS)
