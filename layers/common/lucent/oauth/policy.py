"""The authorization server's own rules, as plain functions (docs/oauth.md).

What authlib does not decide for us: which redirect URIs a client may register (RFC 8252 and
OAuth 2.1 section 2.3.1), how a requested one is matched, what registration metadata we accept
(RFC 7591 with our limits), which client names are refused, which RFC 8707 resources exist, and
how long each artefact lives.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from lucent.contract import (
    KNOWN_SCOPES,
    OAUTH_DATA_RESOURCE_PATH,
    OAUTH_MCP_RESOURCE_PATH,
)

# --- lifetimes (seconds) --------------------------------------------------------------------------

ACCESS_TOKEN_SECONDS = 3600
# The issue caps codes at 60 s; a real client exchanges its code within a second or two.
CODE_SECONDS = 60
# A refresh family (one grant's chain of rotated refresh tokens) ends 30 days after consent:
# the person consents again. It also bounds the family item's list of access tokens.
REFRESH_FAMILY_SECONDS = 30 * 24 * 3600
# A rotated refresh token presented again within this many seconds of its rotation is taken as
# the client's concurrent retry (two requests in flight, or a response lost on the way): it gets
# a new pair of the same family. Later, the reuse revokes the whole family (docs/oauth.md).
REFRESH_REUSE_GRACE_SECONDS = 10
# Between signing in and approving or denying on the consent page.
CONSENT_SECONDS = 600
# A registered client unused for this long is forgotten (TTL); each authorization extends it.
CLIENT_IDLE_SECONDS = 180 * 24 * 3600
# Spent codes and rotated refresh tokens are kept this long past their own expiry so that a
# replay is recognised as one (and revokes what was issued) rather than as an unknown value.
REPLAY_MEMORY_SECONDS = 24 * 3600

# --- registration limits ------------------------------------------------------------------------

MAX_REGISTRATION_BYTES = 8 * 1024
MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
MAX_CLIENT_NAME_LENGTH = 100

TOKEN_ENDPOINT_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
RESPONSE_TYPES = ("code",)
CODE_CHALLENGE_METHODS = ("S256",)


class RegistrationError(ValueError):
    """RFC 7591 section 3.2.2: ``invalid_redirect_uri`` or ``invalid_client_metadata``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


# --- redirect URIs --------------------------------------------------------------------------------


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts


def _has_control_or_space(text: str) -> bool:
    # urlsplit silently drops tabs and line breaks, so they are refused before it runs.
    return any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text)


# A DNS name as hosts are written in URIs after urlsplit lowercases them. Underscores appear in
# real internal names; anything else (";", ",", "%", quotes) could end a header's directive.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")


def _plain_host(host: str) -> bool:
    if _HOST_NAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def redirect_uri_problem(uri: Any) -> str | None:  # noqa: PLR0911 - one exit per rule
    """Why ``uri`` cannot be registered, or None: https anywhere, or http on a loopback host
    with any port (RFC 8252 section 7.3); never a fragment, wildcard, userinfo or other scheme.
    ASCII only, and the host a plain DNS name or IP address: the consent page shows the host
    and the page's CSP names its origin, so a homograph or a header delimiter never gets in."""
    if not isinstance(uri, str) or not uri:
        return "each redirect URI must be a non-empty string"
    if len(uri) > MAX_URI_LENGTH:
        return f"a redirect URI is at most {MAX_URI_LENGTH} characters"
    if _has_control_or_space(uri) or "\\" in uri:
        return "a redirect URI may not contain spaces, control characters or backslashes"
    parts = _split(uri)
    if parts is None or not parts.scheme or not parts.netloc or not parts.hostname:
        return "a redirect URI must be an absolute URI with a host"
    if "#" in uri:
        return "a redirect URI may not contain a fragment"
    if "*" in uri:
        return "a redirect URI may not contain a wildcard"
    if "@" in parts.netloc:
        return "a redirect URI may not contain user information"
    if not parts.hostname.isascii():
        return (
            "a redirect URI's host must be ASCII: write an internationalized domain name in "
            "punycode (xn--...)"
        )
    if not uri.isascii():
        return "a redirect URI must be ASCII: percent-encode other characters (RFC 3986)"
    if not _plain_host(parts.hostname):
        return (
            "a redirect URI's host may contain only letters, digits, hyphens, dots and "
            "underscores, or be an IP address"
        )
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http" and _is_loopback_host(parts.hostname):
        return None
    return (
        "a redirect URI must use https, or http on a loopback address (127.0.0.1, [::1], localhost)"
    )


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact string match; for loopback http only the port may differ (RFC 8252 section 7.3,
    OAuth 2.1 section 4.1.2.1: native apps pick a free port at the time of the request).

    A registered URI that today's rules refuse (one stored before them, with a non-ASCII host
    say) matches nothing, and a requested one must be printable ASCII: what matches ends up in
    the Location and Content-Security-Policy headers."""
    if redirect_uri_problem(registered) is not None:
        return False
    if not requested.isascii() or _has_control_or_space(requested):
        return False
    if registered == requested:
        return True
    a, b = _split(registered), _split(requested)
    if a is None or b is None or a.scheme != "http" or b.scheme != "http":
        return False
    if not _is_loopback_host(a.hostname) or a.hostname != b.hostname:
        return False
    return (a.path, a.query, a.fragment) == (b.path, b.query, b.fragment) and "@" not in b.netloc


def ascii_host(uri: str) -> str | None:
    """The host (and port) of ``uri`` as ASCII, an internationalized name in punycode (Python's
    IDNA codec), or None when it has none or cannot be encoded: what pages show and headers
    carry. Registration admits only ASCII hosts; this covers clients stored before that."""
    if _has_control_or_space(uri):
        return None
    parts = _split(uri)
    if parts is None or not parts.hostname:
        return None
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if not _plain_host(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"


# --- client names -------------------------------------------------------------------------------

# The names the consent page must never show for a client (ASCII letters only).
_RESERVED_NAMES = ("lucent", "lucenthq")
# Characters read as one of our letters that Unicode's confusables data (TS #39) maps elsewhere
# or not at all: digits and signs, and U+028A/U+01B1 (upsilon), which reads as u.
_READ_AS = str.maketrans(
    {"0": "o", "1": "l", "!": "l", "|": "l", "3": "e", "€": "e", "$": "s", "ʊ": "u", "Ʊ": "U"}
)
# TS #39 section 5.2, "Highly Restrictive": one script, or one of these sets (Japanese, Chinese
# with Bopomofo, Korean, each with Latin). Common and Inherited characters belong to any script.
_SCRIPT_SETS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_ANY_SCRIPT = frozenset({"COMMON", "INHERITED"})


@functools.cache
def _reads_as() -> dict[str, str]:
    """Every character whose TS #39 skeleton is one of the letters of our names (either case),
    mapped to that letter in lower case: ``I`` to ``l``, U+0435 (Cyrillic ie) to ``e``...

    Only those prototypes are needed: a skeleton can hold ``lucent`` only where each of its
    characters maps to one of these letters. The letters are prototypes, never sources, so the
    library's two-way pairs listed under each letter are exactly its sources. Loaded on the
    first registration, not at the function's start: the data is about 1 MB of JSON."""
    from confusable_homoglyphs.confusables import confusables_data

    letters = {c for name in _RESERVED_NAMES for c in name}
    out: dict[str, str] = {}
    for letter in letters:
        for prototype in (letter, letter.upper()):
            for entry in confusables_data.get(prototype, ()):
                # Right-to-left sources are stored between LEFT-TO-RIGHT MARKs.
                source = str(entry["c"]).strip("\u200e\u200f")
                if len(source) == 1:
                    out[source] = letter
    return out


def _skeleton_letters(name: str) -> str:
    """The ASCII letters ``name`` reads as: compatibility-folded (NFKD), accents dropped, then
    each character replaced by its TS #39 prototype where that is one of our letters, lower
    case, and everything that is not a letter a-z removed."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).translate(_READ_AS)
    reads_as = _reads_as()
    letters = "".join(reads_as.get(c, c) for c in folded).lower()
    return re.sub(r"[^a-z]", "", letters)


def _mixes_scripts(name: str) -> bool:
    from confusable_homoglyphs.categories import alias

    scripts = {str(alias(c)) for c in name} - _ANY_SCRIPT
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_SETS)


def client_name_problem(name: str) -> str | None:
    """Why a client may not call itself ``name``: it must not pass for Lucent on the consent
    page (its confusables skeleton, after Unicode TS #39, must not hold one of our names), and
    it must be written in one script (TS #39 "highly restrictive"), so that no letter of another
    script can stand in for a Latin one."""
    if len(name) > MAX_CLIENT_NAME_LENGTH:
        return f"client_name is at most {MAX_CLIENT_NAME_LENGTH} characters"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return "client_name may not contain control or format characters"
    letters = _skeleton_letters(name)
    if any(reserved in letters for reserved in _RESERVED_NAMES):
        return "client_name may not name Lucent: the consent page must not pass a client off as us"
    if _mixes_scripts(name):
        return (
            "client_name may not mix scripts (such as Latin with Cyrillic or Greek): one name "
            "could pass for another on the consent page"
        )
    return None


# --- registration metadata ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """What a registration may set, validated (RFC 7591 section 2)."""

    redirect_uris: tuple[str, ...]
    client_name: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    scope: tuple[str, ...]
    client_uri: str | None = None

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "redirect_uris": list(self.redirect_uris),
            "client_name": self.client_name,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(self.grant_types),
            "response_types": list(self.response_types),
            "scope": " ".join(self.scope),
        }
        if self.client_uri:
            out["client_uri"] = self.client_uri
        return out


def _string_list(metadata: Mapping[str, Any], name: str, default: Iterable[str]) -> list[str]:
    value = metadata.get(name, None)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistrationError("invalid_client_metadata", f"{name} must be an array of strings")
    return value


def validate_registration(metadata: Any) -> ClientMetadata:
    """Registration metadata by our rules, or RegistrationError naming the RFC 7591 error."""
    if not isinstance(metadata, dict):
        raise RegistrationError("invalid_client_metadata", "the body must be a JSON object")
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris must be a non-empty array")
    if len(uris) > MAX_REDIRECT_URIS:
        raise RegistrationError(
            "invalid_redirect_uri", f"at most {MAX_REDIRECT_URIS} redirect URIs may be registered"
        )
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise RegistrationError("invalid_redirect_uri", problem)

    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in TOKEN_ENDPOINT_AUTH_METHODS:
        raise RegistrationError(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be one of " + ", ".join(TOKEN_ENDPOINT_AUTH_METHODS),
        )
    grant_types = _string_list(metadata, "grant_types", ["authorization_code"])
    unknown = sorted(set(grant_types) - set(GRANT_TYPES))
    if unknown or "authorization_code" not in grant_types:
        raise RegistrationError(
            "invalid_client_metadata",
            "grant_types must include authorization_code and may add refresh_token only",
        )
    response_types = _string_list(metadata, "response_types", ["code"])
    if set(response_types) != {"code"}:
        raise RegistrationError("invalid_client_metadata", 'response_types must be ["code"]')

    raw_scope = metadata.get("scope")
    if raw_scope is None:
        scope: tuple[str, ...] = KNOWN_SCOPES
    elif not isinstance(raw_scope, str) or not raw_scope.split():
        raise RegistrationError("invalid_client_metadata", "scope must be a space-separated string")
    else:
        requested = raw_scope.split()
        unknown = sorted(set(requested) - set(KNOWN_SCOPES))
        if unknown:
            raise RegistrationError(
                "invalid_client_metadata",
                f"unknown scope: {', '.join(unknown)} (known scopes: {', '.join(KNOWN_SCOPES)})",
            )
        scope = tuple(s for s in KNOWN_SCOPES if s in requested)

    name = metadata.get("client_name")
    if name is None:
        name = "Unnamed client"
    if not isinstance(name, str) or not name.strip():
        raise RegistrationError("invalid_client_metadata", "client_name must be a non-empty string")
    name = name.strip()
    problem = client_name_problem(name)
    if problem:
        raise RegistrationError("invalid_client_metadata", problem)

    client_uri = metadata.get("client_uri")
    if client_uri is not None and (
        not isinstance(client_uri, str)
        or len(client_uri) > MAX_URI_LENGTH
        or _has_control_or_space(client_uri)
        or (parts := _split(client_uri)) is None
        or parts.scheme != "https"
        or not parts.hostname
    ):
        raise RegistrationError("invalid_client_metadata", "client_uri must be an https URI")
    if client_uri is not None and not client_uri.isascii():
        # Not shown today, but returned and stored: held to the redirect URIs' rule.
        raise RegistrationError(
            "invalid_client_metadata",
            "client_uri must be ASCII: write an internationalized domain name in punycode "
            "(xn--...)",
        )

    return ClientMetadata(
        redirect_uris=tuple(uris),
        client_name=name,
        token_endpoint_auth_method=method,
        grant_types=tuple(g for g in GRANT_TYPES if g in grant_types),
        response_types=("code",),
        scope=scope,
        client_uri=client_uri,
    )


# --- resources (RFC 8707) -----------------------------------------------------------------------


def default_resources(base_url: str) -> tuple[str, ...]:
    """The resources of a deployment whose APIs all answer on ``base_url`` (the local API)."""
    return (base_url + OAUTH_MCP_RESOURCE_PATH, base_url + OAUTH_DATA_RESOURCE_PATH)


# --- scopes -------------------------------------------------------------------------------------


def scope_list(scope: str | None) -> list[str]:
    return (scope or "").split()


def canonical_scope(scopes: Iterable[str]) -> str:
    """Scopes in the documented order, once each."""
    wanted = set(scopes)
    return " ".join(s for s in KNOWN_SCOPES if s in wanted)
