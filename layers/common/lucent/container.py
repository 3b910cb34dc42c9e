"""Per-container state: what a Lambda container builds once and keeps between invocations.

Settings, boto3 clients and each function's service object are created on first use and reused,
as Lambda intends. Whatever changes the environment a container would have been started with (the
local API switching functions, a test, the bench) calls ``reset()``, the one hook that drops all
of it, so the next call rebuilds from the new environment.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])
_resets: list[Callable[[], None]] = []


def per_container(factory: _F) -> _F:
    """Cache ``factory``'s results for the container's life (per distinct arguments); ``reset``
    forgets them."""
    cached = lru_cache(maxsize=8)(factory)
    _resets.append(cached.cache_clear)
    return cached  # type: ignore[return-value]


def on_reset(hook: Callable[[], None]) -> None:
    """Run ``hook`` on every ``reset`` (state that is not a cached factory result)."""
    _resets.append(hook)


def reset() -> None:
    """Forget every per-container object: the next use builds it again from the environment."""
    for hook in list(_resets):
        hook()
