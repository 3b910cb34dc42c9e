"""Replays ``events/`` as real HTTP requests and checks each documented outcome.

Shared by ``lucent replay`` (any deployment, the local API by default) and the scheduled canary
Lambda. Standard library only: it ships in the common layer.

``events/manifest.json`` describes every event file::

    {
      "credentials": {"public_key": "luc_pk_...", "api_key": "luc_api_...", ...},
      "events": [
        {"file": "ingest-post-json.json", "function": "IngestFunction", "api": "ingest",
         "description": "...",
         "invoke": {"status": 200, "json": {"events_stored": 2}},
         "http": {"status": 200, "headers": {"Access-Control-Allow-Origin": "*"}}}
      ]
    }

``credentials`` maps a role to the demo value the event files carry. Replaying substitutes each
demo value by the deployment's value of the same role (``.lucent/dev.json`` locally, a secret for
the canary); an event whose roles the deployment does not provide is skipped, not failed.

An expected outcome may hold: ``status``; ``body`` (exact text); ``json`` (these keys with these
values); ``json_keys`` (keys present); ``body_contains``; ``headers`` (exact values, names in
any letter case); ``absent_headers``. Authorizer invokes are checked with ``effect`` (``Allow``,
``Deny`` or ``Unauthorized``) and ``context`` (these keys with these values, as strings).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

MANIFEST_NAME = "manifest.json"
DEFAULT_TIMEOUT_SECONDS = 15.0
# Headers that belong to a hop (the client, CloudFront, API Gateway), not to the request: a
# replay lets its own HTTP client set them.
_HOP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "transfer-encoding",
        "via",
        "x-amz-cf-id",
        "x-amzn-trace-id",
        "x-forwarded-for",
        "x-forwarded-port",
        "x-forwarded-proto",
        "accept-encoding",
    }
)
_HOP_PREFIXES = ("cloudfront-",)
# The parts of an event that become the HTTP request.
_SENT_PARTS = (
    "path",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "body",
)


class ManifestError(ValueError):
    """events/manifest.json is missing, malformed, or names a file that is not there."""


@dataclass(frozen=True)
class EventSpec:
    file: str
    function: str
    api: str  # "ingest" or "data": which base URL a replay uses
    description: str
    invoke: Mapping[str, Any]
    http: Mapping[str, Any] | None

    @property
    def name(self) -> str:
        return self.file.removesuffix(".json")

    @property
    def is_authorizer(self) -> bool:
        return "effect" in self.invoke


@dataclass(frozen=True)
class Manifest:
    directory: Path
    credentials: Mapping[str, str]
    events: tuple[EventSpec, ...]

    def event(self, spec: EventSpec) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.directory / spec.file).read_text("utf-8"))
        return loaded

    def roles_used(self, spec: EventSpec) -> list[str]:
        """The roles whose demo values a replay sends or expects (the authorizer context that a
        proxy event carries is not sent: the deployment's own authorizer makes it)."""
        event = self.event(spec)
        sent = {key: event.get(key) for key in _SENT_PARTS}
        if event.get("isBase64Encoded"):
            sent.pop("body")
        text = json.dumps(sent) + json.dumps(spec.http or {})
        return [role for role, value in self.credentials.items() if value and value in text]


def load_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} not found") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    events = []
    for entry in raw.get("events", []):
        try:
            spec = EventSpec(
                file=entry["file"],
                function=entry["function"],
                api=entry["api"],
                description=entry.get("description", ""),
                invoke=entry["invoke"],
                http=entry.get("http"),
            )
        except KeyError as exc:
            raise ManifestError(f"{path}: an event entry lacks {exc}") from exc
        if not (directory / spec.file).is_file():
            raise ManifestError(f"{path} names {spec.file}, which does not exist")
        events.append(spec)
    return Manifest(directory, dict(raw.get("credentials", {})), tuple(events))


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    elapsed_ms: float


def substitute(text: str, replacements: Mapping[str, str]) -> str:
    for old, new in replacements.items():
        if old:
            text = text.replace(old, new)
    return text


def replacements_for(manifest: Manifest, values: Mapping[str, str]) -> dict[str, str]:
    """Demo value -> deployment value, for every role the deployment provides."""
    return {demo: values[role] for role, demo in manifest.credentials.items() if values.get(role)}


def http_call(event: Mapping[str, Any], base_url: str, replacements: Mapping[str, str]) -> HttpCall:
    """The HTTP request an API Gateway proxy or REQUEST authorizer event stands for."""
    method = str(event["httpMethod"]).upper()
    path = substitute(str(event["path"]), replacements)
    query_pairs: list[tuple[str, str]] = []
    multi_query = event.get("multiValueQueryStringParameters")
    if multi_query:
        for name, values in multi_query.items():
            query_pairs.extend((name, substitute(str(v), replacements)) for v in values)
    else:
        for name, value in (event.get("queryStringParameters") or {}).items():
            query_pairs.append((name, substitute(str(value), replacements)))
    url = base_url.rstrip("/") + path
    if query_pairs:
        url += "?" + urlencode(query_pairs)
    headers: list[tuple[str, str]] = []
    multi_headers = event.get("multiValueHeaders")
    if multi_headers:
        for name, values in multi_headers.items():
            headers.extend((name, substitute(str(v), replacements)) for v in values)
    else:
        headers.extend(
            (name, substitute(str(value), replacements))
            for name, value in (event.get("headers") or {}).items()
        )
    headers = [
        (name, value)
        for name, value in headers
        if name.lower() not in _HOP_HEADERS and not name.lower().startswith(_HOP_PREFIXES)
    ]
    body: bytes | None = None
    raw_body = event.get("body")
    if raw_body is not None and event.get("type") != "REQUEST":
        if event.get("isBase64Encoded"):
            body = base64.b64decode(raw_body)
        else:
            body = substitute(str(raw_body), replacements).encode("utf-8")
    return HttpCall(method, url, tuple(headers), body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an outcome to check, not to follow


_OPENER = urllib.request.build_opener(_NoRedirect)


def send(call: HttpCall, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> HttpResult:
    joined: dict[str, str] = {}
    for name, value in call.headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    request = urllib.request.Request(  # noqa: S310 - the URL is the deployment under test
        call.url, data=call.body, headers=joined, method=call.method
    )
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, message, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, message, body = exc.code, exc.headers, exc.read()
    elapsed = (time.perf_counter() - started) * 1000
    headers: dict[str, str] = {}
    for name in message:
        key = name.lower()
        if key not in headers:
            headers[key] = ", ".join(message.get_all(name) or [])
    return HttpResult(status, headers, body, elapsed)


# --- checks ----------------------------------------------------------------------------------


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_response(
    expected: Mapping[str, Any], status: int, headers: Mapping[str, str], body: bytes
) -> list[str]:
    """What differs between an HTTP-like response and its expected outcome (empty: it passed)."""
    problems: list[str] = []
    lowered = {k.lower(): v for k, v in headers.items()}
    if "status" in expected and status != expected["status"]:
        problems.append(f"status {status}, expected {expected['status']}")
    text = body.decode("utf-8", errors="replace")
    if "body" in expected and text != expected["body"]:
        problems.append(f"body {_short(text)!r}, expected {_short(expected['body'])!r}")
    if "body_contains" in expected and expected["body_contains"] not in text:
        problems.append(f"body {_short(text)!r} lacks {expected['body_contains']!r}")
    if "json" in expected or "json_keys" in expected:
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            problems.append(f"body is not JSON: {_short(text)!r}")
            document = None
        if document is not None:
            problems.extend(_json_problems(expected, document))
    for name, value in (expected.get("headers") or {}).items():
        actual = lowered.get(name.lower())
        if actual != value:
            problems.append(f"header {name}: {actual!r}, expected {value!r}")
    for name in expected.get("absent_headers") or []:
        if name.lower() in lowered:
            problems.append(f"header {name} present, expected absent")
    return problems


def _json_problems(expected: Mapping[str, Any], document: Any) -> list[str]:
    problems = []
    if not isinstance(document, dict):
        return [f"JSON body is {type(document).__name__}, expected an object"]
    for key, value in (expected.get("json") or {}).items():
        if key not in document:
            problems.append(f"JSON key {key!r} missing")
        elif document[key] != value:
            # JSON text, not the raw value: a stored string is page content (line breaks,
            # terminal escapes) and is shown quoted and escaped.
            shown, wanted = json.dumps(document[key]), json.dumps(value)
            problems.append(f"JSON {key!r} is {_short(shown)}, expected {_short(wanted)}")
    for key in expected.get("json_keys") or []:
        if key not in document:
            problems.append(f"JSON key {key!r} missing")
    return problems


def check_invoke(
    expected: Mapping[str, Any], output: Any, error: BaseException | None
) -> list[str]:
    """Compare an in-process invoke (its return value, or what it raised) with the manifest."""
    if "effect" in expected:
        return _check_authorizer(expected, output, error)
    if error is not None:
        return [f"raised {type(error).__name__}: {error}"]
    if not isinstance(output, dict) or "statusCode" not in output:
        return [f"not a proxy response: {_short(repr(output))}"]
    headers = {str(k): str(v) for k, v in (output.get("headers") or {}).items()}
    for name, values in (output.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ", ".join(str(v) for v in values)
    raw = output.get("body") or ""
    body = base64.b64decode(raw) if output.get("isBase64Encoded") else str(raw).encode("utf-8")
    return check_response(expected, int(output["statusCode"]), headers, body)


def _check_authorizer(
    expected: Mapping[str, Any], output: Any, error: BaseException | None
) -> list[str]:
    want = expected["effect"]
    if error is not None:
        got = "Unauthorized" if str(error) == "Unauthorized" else f"{type(error).__name__}: {error}"
        return [] if got == want else [f"outcome {got}, expected {want}"]
    try:
        effect = output["policyDocument"]["Statement"][0]["Effect"]
    except (KeyError, IndexError, TypeError):
        return [f"malformed authorizer output: {_short(repr(output))}"]
    problems = [] if effect == want else [f"outcome {effect}, expected {want}"]
    context = output.get("context") or {}
    for key, value in (expected.get("context") or {}).items():
        if str(context.get(key)) != str(value):
            problems.append(f"context {key}: {context.get(key)!r}, expected {value!r}")
    return problems


# --- replay ----------------------------------------------------------------------------------


@dataclass
class Result:
    spec: EventSpec
    passed: bool
    skipped: str | None = None  # why it was not sent
    status: int | None = None
    elapsed_ms: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


def replay(
    manifest: Manifest,
    urls: Mapping[str, str],
    values: Mapping[str, str],
    *,
    only: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    on_result: Callable[[Result], None] | None = None,
    time_left: Callable[[], float] | None = None,
) -> list[Result]:
    """Send every event with an expected HTTP outcome; ``urls`` maps "ingest"/"data" to bases.

    ``time_left`` (seconds, e.g. from a Lambda context): an event is only sent while more than
    one request timeout remains; the ones left are failed as not run.
    """
    wanted = set(only) if only is not None else None
    replacements = replacements_for(manifest, values)
    results = []
    for spec in manifest.events:
        if spec.http is None or (wanted is not None and spec.name not in wanted):
            continue
        if time_left is not None and time_left() < timeout + 1:
            result = Result(spec, passed=False, problems=["not run: out of time"])
        else:
            result = _replay_one(
                manifest,
                spec=spec,
                urls=urls,
                values=values,
                replacements=replacements,
                timeout=timeout,
            )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _replay_one(
    manifest: Manifest,
    *,
    spec: EventSpec,
    urls: Mapping[str, str],
    values: Mapping[str, str],
    replacements: Mapping[str, str],
    timeout: float,
) -> Result:
    assert spec.http is not None
    missing = [role for role in manifest.roles_used(spec) if not values.get(role)]
    if missing:
        return Result(spec, passed=True, skipped="no value for " + ", ".join(missing))
    if spec.api not in urls:
        return Result(spec, passed=True, skipped=f"no URL for the {spec.api} API")
    expected = json.loads(substitute(json.dumps(spec.http), replacements))
    call = http_call(manifest.event(spec), urls[spec.api], replacements)
    try:
        response = send(call, timeout)
    except (OSError, urllib.error.URLError) as exc:
        return Result(spec, passed=False, problems=[f"request failed: {exc}"])
    problems = check_response(expected, response.status, response.headers, response.body)
    return Result(spec, not problems, None, response.status, response.elapsed_ms, problems)


def summary(results: Iterable[Result]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for result in results:
        key = "skipped" if result.skipped else ("passed" if result.passed else "failed")
        counts[key] += 1
    return counts
