"""The credential scrubber (lucent.redaction) sees through percent-encoding.

A server percent-decodes a query before it reads ``api_key``, so ``?api%5Fkey=luc%5Fpk%5F...``
authenticates: every credential kind, in every spelling below, in every place a log line may hold
it, must come out of ``redact_text`` with no trace of its secret part, even after the output is
itself decoded (more times than any server would).
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
from collections.abc import Callable
from urllib.parse import quote, unquote

import pytest

from lucent.auth.credentials import PREFIXES, CredentialKind, generate_secret
from lucent.redaction import REDACTED, redact_headers, redact_query, redact_text

KINDS = list(CredentialKind)


def _escape(char: str, lower: bool = False) -> str:
    escaped = f"%{ord(char):02X}"
    return escaped.lower() if lower else escaped


SPELLINGS: dict[str, Callable[[str], str]] = {
    "as issued": lambda secret: secret,
    "underscores as %5F": lambda secret: secret.replace("_", "%5F"),
    "underscores as %5f (lower-case hex)": lambda secret: secret.replace("_", "%5f"),
    "every character escaped": lambda secret: "".join(_escape(c) for c in secret),
    "every character escaped, lower-case hex": lambda secret: "".join(
        _escape(c, lower=True) for c in secret
    ),
    "every other character escaped, mixed case": lambda secret: "".join(
        _escape(c, lower=i % 4 == 1) if i % 2 else c for i, c in enumerate(secret)
    ),
    "double-encoded": lambda secret: quote(secret.replace("_", "%5F"), safe=""),
    "triple-encoded": lambda secret: quote(quote(secret.replace("_", "%5F"), safe=""), safe=""),
}

# Where a credential can sit in a log line: ``{}`` is the spelled credential.
PLACES: dict[str, str] = {
    "api_key parameter": "POST /api/sdk/replay?api_key={}",
    "api%5Fkey parameter": "POST /api/sdk/replay?api%5Fkey={}",
    "API%5fKEY parameter, lower-case hex": "POST /api/sdk/replay?API%5fKEY={}",
    "api_key between other parameters": "POST /api/sdk/replay?a=1&api_key={}&b=2",
    "value after a +": "POST /api/sdk/replay?api_key=+{}",
    "between + signs in another parameter": "GET /api/v1/issues?q=see+{}+here",
    "inside another parameter's value": "GET /api/v1/issues?next=%2Fcb%3Fapi_key%3D{}%26x%3D1",
    "path segment": "GET /api/v1/issues/{}",
    "path segment with a query": "GET /api/v1/issues/{}?limit=1",
    "JSON log field": '{{"level":"INFO","message":"seen","path":"/api/v1/issues/{}"}}',
    "free text": "the caller sent {} twice",
}


def _decoded_every_way(text: str) -> list[str]:
    """``text``, and ``text`` decoded once to four times (``+`` as ``+`` and as a space)."""
    out = [text]
    plain = spaced = text
    for _ in range(4):
        plain, spaced = unquote(plain), unquote(spaced.replace("+", " "))
        out += [plain, spaced]
    return out


def _assert_no_trace(secret: str, logged: str) -> None:
    body = secret[len(next(p for p in PREFIXES.values() if secret.startswith(p))) :]
    for reading in _decoded_every_way(logged):
        assert secret not in reading, logged
        # No run of 8 characters of the secret's random part survives anywhere.
        assert not any(body[i : i + 8] in reading for i in range(len(body) - 7)), logged


@pytest.mark.parametrize("place", PLACES, ids=list(PLACES))
@pytest.mark.parametrize("spelling", SPELLINGS, ids=list(SPELLINGS))
@pytest.mark.parametrize("kind", KINDS, ids=[k.value for k in KINDS])
def test_every_credential_in_every_spelling_and_place_is_redacted(
    kind: CredentialKind, spelling: str, place: str
) -> None:
    secret = generate_secret(kind)
    spelled = SPELLINGS[spelling](secret)
    line = PLACES[place].format(spelled)
    redacted = redact_text(line)
    _assert_no_trace(secret, redacted)
    assert REDACTED in redacted
    # What is not secret stays as it was written (its encoding too).
    before, _, after = PLACES[place].partition("{}")
    assert redacted.startswith(before.replace("{{", "{").split("api_key=")[0])
    assert redacted.endswith(after.replace("}}", "}"))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # The report: the encoded name and value authenticate and must not be logged.
        (
            "POST /api/sdk/replay?api%5Fkey=luc%5Fpk%5F3fcabb1517f6075505f35ac64662e3640f5816fd",
            "POST /api/sdk/replay?api%5Fkey=[REDACTED]",
        ),
        (
            "POST /api/sdk/replay?api_key=luc_pk_1&b=2",
            "POST /api/sdk/replay?api_key=[REDACTED]&b=2",
        ),
        # Any api_key value goes, credential-shaped or not, encoded name or not.
        ("GET /x?API%5fKEY=typo&b=1", "GET /x?API%5fKEY=[REDACTED]&b=1"),
        ("GET /x?api_key=&b=1", "GET /x?api_key=[REDACTED]&b=1"),
        ("GET /x?api_key=a+b&c=1", "GET /x?api_key=[REDACTED]&c=1"),
        # An encoded name whose first escape swallows the a of api_key is still found as written.
        ("GET /x?%Aapi_key=s3cret", "GET /x?%Aapi_key=[REDACTED]"),
        # A credential nested in an encoded URL: only it goes, the rest keeps its escapes.
        (
            "GET /x?next=%2Fcb%3Fapi_key%3Dluc_pk_abc%26x%3D1",
            "GET /x?next=%2Fcb%3Fapi_key%3D[REDACTED]%26x%3D1",
        ),
        ("GET /i/luc%255Fapi%255FAbC9?x=1", "GET /i/[REDACTED]?x=1"),
        ("%6C%75%63%5F%6F%61%74%5FQwe9 ok", "[REDACTED] ok"),
        # Prefixes in any ASCII case (no server accepts them; over-redacting costs nothing).
        ("LUC_PK_ABC luc_Api_x", "[REDACTED] [REDACTED]"),
        # JSON fields named like secrets (an API Gateway event logged whole), first list value.
        (
            '{"Authorization": "Bearer not-a-credential", "a": "luc_oat_Q"}',
            '{"Authorization": "[REDACTED]", "a": "[REDACTED]"}',
        ),
        (
            '{"multiValueHeaders": {"X-Lucent-Api-Key": ["luc-pk-typo"]}, "n": 1}',
            '{"multiValueHeaders": {"X-Lucent-Api-Key": ["[REDACTED]"]}, "n": 1}',
        ),
        (
            '{"queryStringParameters": {"api_key": "x\\"y"}}',
            '{"queryStringParameters": {"api_key": "[REDACTED]"}}',
        ),
        # OAuth refresh tokens and client secrets are base64url: '-' and '_' are part of them.
        (
            "refresh luc_ort_Ab-9_xYz-Q7 and luc_ocs_k_-Zz0 done",
            "refresh [REDACTED] and [REDACTED] done",
        ),
        # Escapes that hide nothing stay escapes: a %0A cannot become a forged second line.
        ("GET /a%0Ab?x=%41%2", "GET /a%0Ab?x=%41%2"),
        ("100% sure, 50%-off", "100% sure, 50%-off"),
        ("", ""),
    ],
)
def test_exact_redactions(line: str, expected: str) -> None:
    assert redact_text(line) == expected


def test_lines_without_a_secret_come_back_unchanged() -> None:
    line = json.dumps(
        {
            "level": "INFO",
            "location": "lambda_handler:77",
            "message": "batch stored",
            "timestamp": "2026-01-01 12:00:00,123+0000",
            "reason": "invalid_api_key",
            "credential_id": "cred_0123456789abcdef",
            "path": "/api/v1/issues/iss_01M7XPWNVRPDTTJRV7AKD2QEBR?limit=10%2C",
            "note": "luc_ alone, api key, authorizer, luc%5Fxx",
        }
    )
    assert redact_text(line) == line


def test_random_escaping_never_lets_a_credential_through() -> None:
    """Any subset of characters escaped, any hex case, up to three encodings deep."""
    rng = random.Random(9)
    for _ in range(400):
        kind = rng.choice(KINDS)
        secret = generate_secret(kind)
        spelled = "".join(
            _escape(c, lower=rng.random() < 0.5) if rng.random() < 0.3 else c for c in secret
        )
        for _ in range(rng.randrange(3)):
            spelled = spelled.replace("%", "%25")
        place = rng.choice(list(PLACES.values()))
        _assert_no_trace(secret, redact_text(place.format(spelled)))


def test_redact_headers_and_query_see_through_encoding() -> None:
    secret = generate_secret(CredentialKind.API)
    encoded = secret.replace("_", "%5F")
    assert redact_headers(
        {"Authorization": f"Bearer {secret}", "Referer": f"https://x/?t={encoded}", "Accept": "*/*"}
    ) == {"Authorization": REDACTED, "Referer": f"https://x/?t={REDACTED}", "Accept": "*/*"}
    assert redact_query({"API_KEY": "anything", "next": f"/cb?k={encoded}", "limit": "5"}) == {
        "API_KEY": REDACTED,
        "next": f"/cb?k={REDACTED}",
        "limit": "5",
    }


def test_the_functions_log_formatter_scrubs_encoded_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every function logs through lucent.observability.logger: its lines are scrubbed whole."""
    from lucent.observability import logger

    secrets = {kind: generate_secret(kind) for kind in KINDS}
    previous = logger.log_level
    logger.setLevel(logging.INFO)
    try:
        for kind, secret in secrets.items():
            encoded = "".join(_escape(c) for c in secret)
            logger.info(
                f"seen {secret.replace('_', '%5f')}",
                extra={
                    "path": f"/api/v1/issues/{encoded}",
                    "query": f"api%5Fkey={quote(encoded, safe='')}",
                    "kind": kind.value,
                },
            )
    finally:
        logger.setLevel(previous)
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["kind"] for r in records] == [k.value for k in KINDS]
    for record, secret in zip(records, secrets.values(), strict=True):
        assert record["message"] == f"seen {REDACTED}"
        assert record["path"] == f"/api/v1/issues/{REDACTED}"
        assert record["query"] == f"api%5Fkey={REDACTED}"
        _assert_no_trace(secret, json.dumps(record))


def test_a_standard_library_logger_with_the_formatter_scrubs_too() -> None:
    from lucent.observability import RedactingFormatter

    secret = generate_secret(CredentialKind.PUBLIC)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter())
    log = logging.getLogger("test_redaction.stdlib")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("beacon from /api/sdk/replay?api%%5Fkey=%s", secret.replace("_", "%5F"))
    finally:
        log.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["message"] == f"beacon from /api/sdk/replay?api%5Fkey={REDACTED}"
    assert re.search(r"luc|%5F", record["message"].split("=", 1)[1]) is None
