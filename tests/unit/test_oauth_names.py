"""What a self-registered client can make the consent page say (issue 17, findings 8 and 9).

Look-alike names (a confusables skeleton after Unicode TS #39, and no mixed scripts) and
non-ASCII redirect hosts are refused at registration with exact bodies; every page marks the
application as unverified and shows the redirect host in ASCII; and no header built from
client metadata can carry a non-ASCII character or a line break, even for a client stored before
these rules (docs/oauth.md, docs/decisions/020-oauth-client-names.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lucent.oauth import pages
from lucent.oauth.models import Client
from lucent.oauth.store import OAuthStore
from tests.unit.oauth_support import REDIRECT, OAuthTestClient, clock, names, oauth

NAMES_LUCENT = "client_name may not name Lucent: the consent page must not pass a client off as us"
MIXED_SCRIPTS = (
    "client_name may not mix scripts (such as Latin with Cyrillic or Greek): "
    "one name could pass for another on the consent page"
)
HOST_NOT_ASCII = (
    "a redirect URI's host must be ASCII: write an internationalized domain name in punycode "
    "(xn--...)"
)
URI_NOT_ASCII = "a redirect URI must be ASCII: percent-encode other characters (RFC 3986)"
HOST_CHARACTERS = (
    "a redirect URI's host may contain only letters, digits, hyphens, dots and underscores, "
    "or be an IP address"
)
CLIENT_URI_NOT_ASCII = (
    "client_uri must be ASCII: write an internationalized domain name in punycode (xn--...)"
)
UNVERIFIED = (
    '<dt>Publisher</dt><dd id="client-verification"><strong>Unverified</strong>: this '
    "application registered itself. Lucent has not checked its name or who runs it.</dd>"
)


__all__ = ["clock", "names", "oauth"]  # the fixtures, used by name


def _register(oauth: OAuthTestClient, **metadata: Any) -> Any:
    document = {"redirect_uris": [REDIRECT], "client_name": "Tool", **metadata}
    return oauth.send(
        "POST", "/oauth/register", body=json.dumps(document), content_type="application/json"
    )


def _assert_refused(oauth: OAuthTestClient, error: str, description: str, **metadata: Any) -> None:
    before = oauth.snapshot()
    reply = _register(oauth, **metadata)
    assert (reply.status, json.loads(reply.body)) == (
        400,
        {"error": error, "error_description": description},
    )
    assert reply.headers["Cache-Control"] == "no-store"
    assert oauth.snapshot() == before


# --- finding 8: look-alike names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("Lucеnt", NAMES_LUCENT),  # U+0435 CYRILLIC SMALL LETTER IE: skeleton e
        ("Лucent", MIXED_SCRIPTS),  # U+041B CYRILLIC CAPITAL LETTER EL, beside Latin
        ("Iucent", NAMES_LUCENT),  # capital I: skeleton l (TS #39 confusables)
        ("Lʊcent", NAMES_LUCENT),  # U+028A LATIN SMALL LETTER UPSILON: read as u (ours)
        ("ℒ𝓊𝒸ℯ𝓃𝓉 Support", NAMES_LUCENT),  # mathematical letters
        ("Lսcent", NAMES_LUCENT),  # U+057D ARMENIAN SMALL LETTER SEH: skeleton u
        ("Lucent\u0435 Tools", NAMES_LUCENT),
        ("IUCENT hq", NAMES_LUCENT),
        ("Claude Соdе", MIXED_SCRIPTS),  # Cyrillic U+0421, U+043E, U+0435 in a Latin word
        ("ChatGPT для команд", MIXED_SCRIPTS),
        ("Αpple Notes", MIXED_SCRIPTS),  # U+0391 GREEK CAPITAL LETTER ALPHA
    ],
)
def test_look_alike_and_mixed_script_names_are_refused(
    oauth: OAuthTestClient, name: str, description: str
) -> None:
    _assert_refused(oauth, "invalid_client_metadata", description, client_name=name)


@pytest.mark.parametrize(
    "name",
    [
        "Claude Code",
        "Cursor 2.0",
        "Lucid Charts",
        "Café Tools",
        "Приложение для команды",  # one script (Cyrillic)
        "Ελληνικά εργαλεία",  # one script (Greek)
        "東京アプリ",  # Han and Katakana: Japanese (TS #39 highly restrictive)
        "Claude 日本語 ツール",  # Latin with Han and Katakana
        "네이버 Notes",  # Latin with Hangul
        "MCP-Inspector (dev) #3",
    ],
)
def test_ordinary_names_in_one_script_are_registered(oauth: OAuthTestClient, name: str) -> None:
    reply = _register(oauth, client_name=name)
    assert reply.status == 201, reply.body
    assert json.loads(reply.body)["client_name"] == name


def test_every_page_marks_a_registered_application_unverified(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register(client_name="Cursor")["client_id"])
    sign_in = oauth.authorize(flow)
    assert sign_in.status == 200
    assert '<dt>Application</dt><dd id="client-name">Cursor</dd>' + UNVERIFIED in sign_in.body
    consent = oauth.sign_in(sign_in)
    assert consent.status == 200
    assert '<dt>Application</dt><dd id="client-name">Cursor</dd>' + UNVERIFIED in consent.body
    assert "<h1>Allow Cursor to use your Lucent data?</h1>" in consent.body


# --- finding 9: redirect hosts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "description"),
    [
        (
            "https://lucеnt.example/callback",
            HOST_NOT_ASCII,
        ),  # U+0435 CYRILLIC SMALL LETTER IE in the host
        ("https://bücher.example/callback", HOST_NOT_ASCII),
        ("https://アプリ.example/callback", HOST_NOT_ASCII),
        ("https://app.example/回调", URI_NOT_ASCII),
        ("https://app.example/cb?next=ü", URI_NOT_ASCII),
        ("https://app.example;script-src/cb", HOST_CHARACTERS),
        ("https://%65vil.example/cb", HOST_CHARACTERS),
        ("https://app.example,evil.example/cb", HOST_CHARACTERS),
    ],
)
def test_redirect_uris_must_be_ascii_with_a_plain_host(
    oauth: OAuthTestClient, uri: str, description: str
) -> None:
    _assert_refused(oauth, "invalid_redirect_uri", description, redirect_uris=[uri])


@pytest.mark.parametrize(
    "uri",
    [
        "https://xn--bcher-kva.example/callback",
        "https://app.example/cb?x=%C3%BC",
        "http://[::1]:8080/callback",
        "http://localhost:3000/cb",
        "https://my_app.internal.example/cb",
    ],
)
def test_ascii_and_punycode_redirect_uris_are_registered(oauth: OAuthTestClient, uri: str) -> None:
    reply = _register(oauth, redirect_uris=[uri])
    assert reply.status == 201, reply.body
    assert json.loads(reply.body)["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("uri", "description"),
    [
        ("https://lucеnt.example/", CLIENT_URI_NOT_ASCII),
        ("https://app.example/\r\nX-Injected: 1", "client_uri must be an https URI"),
    ],
)
def test_client_uri_is_held_to_the_same_rules(
    oauth: OAuthTestClient, uri: str, description: str
) -> None:
    _assert_refused(oauth, "invalid_client_metadata", description, client_uri=uri)


def _ascii_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        assert value.isascii(), (name, value)
        assert value.isprintable(), (name, value)


def test_a_client_stored_before_these_rules_reaches_no_header(oauth: OAuthTestClient) -> None:
    """A client registered by older code with a non-ASCII redirect URI: the authorization request
    is refused on an error page (no redirect), and every header stays printable ASCII."""
    homograph = "https://lucеnt.example/callback"
    OAuthStore(oauth.dynamodb, oauth.names["OAuthTable"]).put_client(
        Client(
            client_id="lcl_stored_before_rules",
            client_name="Old tool",
            redirect_uris=(homograph,),
            token_endpoint_auth_method="none",
            grant_types=("authorization_code",),
            scope=("read:lucent",),
            created_at=int(oauth.clock()),
        )
    )
    flow = oauth.start("lcl_stored_before_rules")
    reply = oauth.authorize(flow, redirect_uri=homograph)
    _ascii_headers(reply.headers)
    assert reply.status == 400
    assert "Location" not in reply.headers
    assert '<code id="error-code">invalid_request</code>' in reply.body


def test_a_whole_flow_sends_only_ascii_headers(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.authorize(flow, state="état\r\nSet-Cookie: x=1")
    _ascii_headers(page.headers)
    consent = oauth.sign_in(page)
    _ascii_headers(consent.headers)
    redirect = oauth.decide(consent)
    assert redirect.status == 302
    _ascii_headers(redirect.headers)
    assert redirect.headers["Location"].startswith(REDIRECT + "?code=")


def test_pages_show_and_allow_a_stored_host_only_in_ascii() -> None:
    """The pages themselves, given a non-ASCII URI (defense in depth: check_redirect_uri refuses
    one before any page is built): the host as punycode, the CSP origin encoded or left out."""
    html = pages.sign_in_page(
        action="/oauth/authorize",
        client_name="Tool",
        redirect_uri="https://bücher.example:8443/cb",
        scopes=["read:lucent"],
        request_query="",
        csrf_token="t",
    )
    assert '<dd id="redirect-host">xn--bcher-kva.example:8443</dd>' in html
    headers = pages.security_headers(
        [
            "https://bücher.example:8443/cb",
            "https://app.example\r\nX-Injected: 1/cb",
            "https://a.example;script-src/cb",
        ]
    )
    _ascii_headers(headers)
    assert (
        "form-action 'self' https://xn--bcher-kva.example:8443;"
        in (headers["Content-Security-Policy"])
    )


def test_the_confusables_data_stays_out_of_the_oauth_cold_start() -> None:
    """About 1 MB of JSON: loaded by the first registration, not by every container's start
    (docs/decisions/020-oauth-client-names.md)."""
    from tests.unit.test_packaging import modules_loaded_by, top_level

    packages = top_level(modules_loaded_by("OAuthFunction", "oauth"))
    assert "authlib" in packages
    assert "confusable_homoglyphs" not in packages
