"""One pass over a session's rrweb events, batch after batch: signals and a timeline.

``SessionDetector(state).feed(events)`` processes one batch and returns what it found; its
``state()`` is everything the next batch needs (the node mirror, the open rage burst, the open
dead-click windows, the recent clicks an error may follow, the current page). Feeding batches one
by one through saved states gives exactly what one pass over all the events gives: that is what
lets the store make detection exactly-once whatever the batch boundaries (docs/detection.md).

Nothing a user typed is read: Input events are used for their element id only.

Every event is page content, written by whoever controls the page (docs/detection.md, "Page
content is untrusted"): what one batch and one session cost and keep is bounded by construction
(rules.MAX_*), what is left out is counted in ``BatchFindings.dropped``, and every text that
leaves the detector has been through ``page_text.clean`` (or ``rules.page_url``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lucent import json_body
from lucent.detection import rrweb
from lucent.detection.mirror import NodeMirror
from lucent.detection.page_text import clean
from lucent.detection.rules import (
    DEAD_CLICK_WINDOW_MS,
    ERROR_CLICK_WINDOW_MS,
    MAX_CONSOLE_JSON_CHARS,
    MAX_CONSOLE_JSON_DEPTH,
    MAX_DETAIL_CHARS,
    MAX_ENTRIES_PER_BATCH,
    MAX_ENTRIES_PER_SESSION,
    MAX_METHOD_CHARS,
    MAX_PENDING_CLICKS,
    MAX_RECENT_CLICKS,
    MAX_SELECTOR_CHARS,
    MAX_SIGNALS_PER_BATCH,
    MAX_SIGNALS_PER_SESSION,
    MAX_TEXT_CHARS,
    MAX_TIMESTAMP_MS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    MIN_TIMESTAMP_MS,
    NETWORK_ERROR_MIN_STATUS,
    RAGE_CLICK_MAX_DISTANCE_PX,
    RAGE_CLICK_MAX_GAP_MS,
    RAGE_CLICK_MIN_CLICKS,
    SCROLL_BURST_GAP_MS,
    fingerprint,
    normalise_frame,
    normalise_message,
    page_url,
    path_template,
    title,
)

STATE_VERSION = 1

# Event sources that count as the page responding to a click (besides navigation).
RESPONSE_SOURCES = frozenset(
    {
        rrweb.MUTATION,
        rrweb.STYLE_SHEET_RULE,
        rrweb.STYLE_DECLARATION,
        rrweb.ADOPTED_STYLE_SHEET,
        rrweb.SCROLL,
        rrweb.SELECTION,
        rrweb.MEDIA_INTERACTION,
        # Not in the list: a checkbox, radio or label click changes no DOM, only the
        # input's state, which rrweb records as an Input event (docs/detection.md).
        rrweb.INPUT,
    }
)


@dataclass(frozen=True, slots=True)
class DetectedSignal:
    kind: str
    fingerprint: str
    title: str
    url: str
    selector: str | None
    text: str | None
    detail: str
    timestamp_ms: int  # epoch milliseconds of the event the signal points at
    replay_timestamp_ms: int  # offset from the session's first event


def _no_drops() -> dict[str, int]:
    return {"signals": 0, "entries": 0, "clicks": 0, "events": 0}


@dataclass(slots=True)
class BatchFindings:
    signals: list[DetectedSignal] = field(default_factory=list)
    # Compact timeline entries: {"t": replay ms, "k": kind, ...}; a signal entry carries its
    # index in ``signals`` under "index" (the store replaces it with the signal's ids).
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # What the bounds left out of this batch: signals and (non-signal) timeline entries past
    # their batch or session cap, clicks no open window could track, events whose timestamp no
    # date holds; and ``mirror_*``: what the node mirror's bounds left out (mirror.py).
    dropped: dict[str, int] = field(default_factory=_no_drops)


class SessionDetector:
    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.first_ts: int | None = s.get("first_ts")
        # Re-checked, like the clicks below: a state saved before these bounds may hold any
        # href, any number of clicks, and clicks no date holds (whose signal would make a later
        # batch a poison batch).
        self.url: str = page_url(s.get("url"))
        self.mirror = NodeMirror.from_state(s.get("mirror", []))
        self.clicks: int = s.get("clicks", 0)
        # The open rage burst: {"first": click, "last": [ts, x, y], "n": length, "emitted": bool,
        # "members": [click numbers not yet known to be in a burst]}
        burst: dict[str, Any] | None = s.get("burst")
        first = _checked([burst["first"]]) if burst else []
        self.burst = {**burst, "first": first[0]} if burst and first else None
        # Dead-click candidates whose window is open: clicks on actionable elements.
        self.pending: list[dict[str, Any]] = _checked(s.get("pending", []))[:MAX_PENDING_CLICKS]
        # Clicks of the last ERROR_CLICK_WINDOW_MS, which a js_error may follow.
        self.recent: list[dict[str, Any]] = _checked(s.get("recent", []))[-MAX_RECENT_CLICKS:]
        # At most the earliest click time of each list (removing clicks keeps them so).
        self._oldest_pending = _oldest(self.pending)
        self._oldest_recent = _oldest(self.recent)
        self.scroll_ts: int | None = s.get("scroll_ts")
        self.input_node: int | None = s.get("input_node")
        # Signals and non-signal timeline entries of the session so far (their session caps).
        self.signal_count: int = s.get("signal_count", 0)
        self.entry_count: int = s.get("entry_count", 0)
        self._out = BatchFindings()
        self._batch_entries = 0
        self.mirror.dropped.clear()  # counted per batch

    def state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "first_ts": self.first_ts,
            "url": self.url,
            "mirror": self.mirror.to_state(),
            "clicks": self.clicks,
            "burst": self.burst,
            "pending": self.pending,
            "recent": self.recent,
            "scroll_ts": self.scroll_ts,
            "input_node": self.input_node,
            "signal_count": self.signal_count,
            "entry_count": self.entry_count,
        }

    # --- the pass ------------------------------------------------------------------------------

    def feed(self, events: list[Any]) -> BatchFindings:
        self._out = BatchFindings()
        self._batch_entries = 0
        self.mirror.dropped.clear()  # counted per batch
        for event in events:
            if not isinstance(event, dict):
                continue
            ts = event.get("timestamp")
            data = event.get("data")
            if not isinstance(ts, int) or isinstance(ts, bool) or not isinstance(data, dict):
                continue
            if not MIN_TIMESTAMP_MS <= ts <= MAX_TIMESTAMP_MS:
                self._out.dropped["events"] += 1  # no date has it: ids and counters need one
                continue
            if self.first_ts is None:
                self.first_ts = ts
            self._close_windows(ts)
            kind = event.get("type")
            if kind == rrweb.FULL_SNAPSHOT:
                self.mirror.reset(data.get("node"))
                self._responded()
            elif kind == rrweb.META:
                self._meta(ts, data)
            elif kind == rrweb.INCREMENTAL_SNAPSHOT:
                self._incremental(ts, data)
            elif kind == rrweb.PLUGIN:
                self._plugin(ts, data)
        for kind, count in self.mirror.dropped.items():  # nodes, tag names, selector segments...
            self._out.dropped[f"mirror_{kind}"] = count
        return self._out

    def _close_windows(self, ts: int) -> None:
        """Everything whose window ended before ``ts``: dead clicks are decided here. Each list
        is walked only once its oldest click (a lower bound kept as clicks are added) is due:
        this runs for every event."""
        if self.pending and ts - self._oldest_pending > DEAD_CLICK_WINDOW_MS:
            still_open = []
            for candidate in self.pending:
                if ts - candidate["ts"] > DEAD_CLICK_WINDOW_MS:
                    self._signal(
                        "dead_click",
                        candidate,
                        candidate["selector"] or "",
                        f"No response within {DEAD_CLICK_WINDOW_MS:,} ms of the click",
                    )
                else:
                    still_open.append(candidate)
            self.pending = still_open
            self._oldest_pending = _oldest(still_open)
        if self.recent and ts - self._oldest_recent > ERROR_CLICK_WINDOW_MS:
            self.recent = [c for c in self.recent if ts - c["ts"] <= ERROR_CLICK_WINDOW_MS]
            self._oldest_recent = _oldest(self.recent)

    def _responded(self) -> None:
        self.pending = []

    def _meta(self, ts: int, data: dict[str, Any]) -> None:
        url = page_url(data.get("href"))
        if url and url != self.url:
            self.url = url
            self._responded()  # a navigation answers any click before it
            self._entry(ts, "page_view", url=url)

    def _selector(self, node: int) -> str | None:
        found = self.mirror.selector(node)
        return (clean(found, MAX_SELECTOR_CHARS) or None) if found is not None else None

    def _text(self, node: int) -> str | None:
        found = self.mirror.text(node)
        return (clean(found, MAX_TEXT_CHARS) or None) if found is not None else None

    def _incremental(self, ts: int, data: dict[str, Any]) -> None:
        source = data.get("source")
        if source == rrweb.MUTATION:
            self.mirror.apply_mutation(data)
        if source in RESPONSE_SOURCES:
            self._responded()
        if source == rrweb.MOUSE_INTERACTION and data.get("type") == rrweb.CLICK:
            self._click(ts, data)
        elif source == rrweb.SCROLL:
            if self.scroll_ts is None or ts - self.scroll_ts > SCROLL_BURST_GAP_MS:
                node = data.get("id")
                selector = self._selector(node) if isinstance(node, int) else None
                self._entry(ts, "scroll", selector=selector)
            self.scroll_ts = ts
        elif source == rrweb.INPUT:
            node = data.get("id")
            # Only which element: ``text`` and ``isChecked`` (what was typed) are never read.
            if isinstance(node, int) and node != self.input_node:
                self._entry(ts, "input", selector=self._selector(node))
                self.input_node = node

    def _click(self, ts: int, data: dict[str, Any]) -> None:
        node = data.get("id")
        if not isinstance(node, int):
            return
        actionable = self.mirror.actionable(node)
        target = actionable if actionable is not None else node
        self.clicks += 1
        click = {
            "n": self.clicks,
            "ts": ts,
            "url": self.url,
            "selector": self._selector(target),
            "text": self._text(target),
        }
        self._entry(ts, "click", selector=click["selector"], text=click["text"])
        in_burst = self._rage(ts, data, click)
        untracked = False
        if actionable is not None and not in_burst:
            if len(self.pending) < MAX_PENDING_CLICKS:
                self._oldest_pending = min(ts, self._oldest_pending) if self.pending else ts
                self.pending.append(click)
            else:
                untracked = True
        if len(self.recent) < MAX_RECENT_CLICKS:
            self._oldest_recent = min(ts, self._oldest_recent) if self.recent else ts
            self.recent.append(click)
        else:
            untracked = True
        if untracked:
            self._out.dropped["clicks"] += 1

    def _rage(self, ts: int, data: dict[str, Any], click: dict[str, Any]) -> bool:
        """Extend or start the burst; True once the click belongs to a rage burst."""
        x, y = data.get("x"), data.get("y")
        position: list[Any] | None = (
            [x, y] if isinstance(x, int | float) and isinstance(y, int | float) else None
        )
        burst = self.burst
        if burst is not None and position is not None and burst["last"][1] is not None:
            last_ts, last_x, last_y = burst["last"]
            near = abs(position[0] - last_x) + abs(position[1] - last_y)
            if ts - last_ts <= RAGE_CLICK_MAX_GAP_MS and near <= RAGE_CLICK_MAX_DISTANCE_PX:
                burst["n"] += 1
                burst["last"] = [ts, *position]
                if burst["emitted"]:
                    return True
                burst["members"].append(click["n"])
                if burst["n"] >= RAGE_CLICK_MIN_CLICKS:
                    first = burst["first"]
                    self._signal(
                        "rage_click",
                        first,
                        first["selector"] or "",
                        f"{RAGE_CLICK_MIN_CLICKS} clicks within "
                        f"{ts - first['ts']:,} ms at the same spot",
                    )
                    burst["emitted"] = True
                    members = set(burst["members"])
                    self.pending = [c for c in self.pending if c["n"] not in members]
                    burst["members"] = []
                    return True
                return False
        self.burst = {
            "first": click,
            "last": [ts, *(position or [None, None])],
            "n": 1,
            "emitted": False,
            "members": [click["n"]],
        }
        return False

    def _plugin(self, ts: int, data: dict[str, Any]) -> None:
        plugin = data.get("plugin")
        payload = data.get("payload")
        if not isinstance(payload, dict):
            return
        if plugin == rrweb.CONSOLE_PLUGIN and payload.get("level") == "error":
            self._js_error(ts, payload)
        elif plugin == rrweb.NETWORK_PLUGIN:
            requests = payload.get("requests")
            for request in requests if isinstance(requests, list) else ():
                if isinstance(request, dict):
                    self._request(ts, request)

    def _js_error(self, ts: int, payload: dict[str, Any]) -> None:
        message = normalise_message(_console_text(payload.get("payload")))
        trace = payload.get("trace")
        frame = (
            normalise_frame(trace[0])
            if isinstance(trace, list) and trace and isinstance(trace[0], str)
            else ""
        )
        at = {"ts": ts, "url": self.url, "selector": None, "text": None}
        self._entry(ts, "error", detail=message)
        self._signal("js_error", at, f"{message}\x1e{frame}", message, message=message)
        for click in self.recent:
            if not click.get("errored") and 0 <= ts - click["ts"] <= ERROR_CLICK_WINDOW_MS:
                click["errored"] = True
                # The error explains the click: it is not also a dead click.
                self.pending = [c for c in self.pending if c["n"] != click["n"]]
                self._signal("error_click", click, click["selector"] or "", message)

    def _request(self, ts: int, request: dict[str, Any]) -> None:
        status = request.get("responseStatus", request.get("status"))
        failed = bool(request.get("error")) or status == 0
        if not failed and not (isinstance(status, int) and status >= NETWORK_ERROR_MIN_STATUS):
            return
        if self._signals_full() and self._entries_full():
            # What _entry and _signal would do, without naming the request first: one event
            # can list any number of requests.
            self._out.dropped["entries"] += 1
            self._out.dropped["signals"] += 1
            self.input_node = None
            return
        method = request.get("method")
        method = (
            clean(method[:MAX_METHOD_CHARS], MAX_METHOD_CHARS) if isinstance(method, str) else ""
        )
        target = request.get("name", request.get("url"))
        template = path_template(target[: MAX_URL_CHARS * 4] if isinstance(target, str) else "")
        key = f"{(method or 'GET').upper()} {clean(template, MAX_URL_CHARS)}"
        outcome = f"status {status}" if isinstance(status, int) and status else "failed"
        detail = f"{key}: {outcome}"
        at_ts = ts
        at = {"ts": at_ts, "url": self.url, "selector": None, "text": None}
        self._entry(ts, "network_error", detail=detail)
        self._signal("network_error", at, key, detail, message=key)

    # --- output ---------------------------------------------------------------------------------

    def _signals_full(self) -> bool:
        return (
            len(self._out.signals) >= MAX_SIGNALS_PER_BATCH
            or self.signal_count >= MAX_SIGNALS_PER_SESSION
        )

    def _entries_full(self) -> bool:
        return (
            self._batch_entries >= MAX_ENTRIES_PER_BATCH
            or self.entry_count >= MAX_ENTRIES_PER_SESSION
        )

    def _replay_ms(self, ts: int) -> int:
        return max(0, ts - (self.first_ts if self.first_ts is not None else ts))

    def _signal(
        self, kind: str, at: dict[str, Any], key: str, detail: str, message: str | None = None
    ) -> None:
        if self._signals_full():
            self._out.dropped["signals"] += 1
            self.input_node = None  # as its entry would have
            return
        self.signal_count += 1
        signal = DetectedSignal(
            kind=kind,
            fingerprint=fingerprint(kind, at["url"], key),
            title=clean(title(kind, at["selector"], message), MAX_TITLE_CHARS),
            url=at["url"],
            selector=at["selector"],
            text=at["text"],
            detail=clean(detail, MAX_DETAIL_CHARS),
            timestamp_ms=at["ts"],
            replay_timestamp_ms=self._replay_ms(at["ts"]),
        )
        self._out.signals.append(signal)
        self._entry(at["ts"], "signal", index=len(self._out.signals) - 1)

    def _entry(self, ts: int, kind: str, **fields: Any) -> None:
        # A signal's own entry is bounded by the signal caps, and always kept with its signal.
        if kind != "signal":
            if self._entries_full():
                self._out.dropped["entries"] += 1
                if kind != "input":
                    self.input_node = None
                return
            self._batch_entries += 1
            self.entry_count += 1
        entry: dict[str, Any] = {"t": self._replay_ms(ts), "k": kind}
        entry.update({k: v for k, v in fields.items() if v is not None})
        self._out.timeline.append(entry)
        if kind != "input":
            self.input_node = None


def _checked(clicks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Saved clicks within today's bounds: those a date holds, their page URLs re-checked."""
    return [
        {**c, "url": page_url(c["url"])}
        for c in clicks
        if MIN_TIMESTAMP_MS <= c["ts"] <= MAX_TIMESTAMP_MS
    ]


def _oldest(clicks: list[dict[str, Any]]) -> int:
    return min((c["ts"] for c in clicks), default=0)


def _console_text(payload: Any) -> str:
    """The first argument of a console call as the plugin stringified it (JSON text)."""
    if not isinstance(payload, list) or not payload:
        return "Error"
    first = payload[0]
    if isinstance(first, str):
        decoded: Any = first
        try:
            if first.startswith('"'):
                decoded = json.loads(first)  # a string: the parser does not recurse
            elif len(first) <= MAX_CONSOLE_JSON_CHARS:
                decoded = json_body.loads(first, max_depth=MAX_CONSOLE_JSON_DEPTH)
        except ValueError:
            decoded = first
        if isinstance(decoded, str):
            return decoded
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            return str(decoded["message"])
        return first
    return "Error"
