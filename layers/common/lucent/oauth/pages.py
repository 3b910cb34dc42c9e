"""The server-rendered pages of the authorization endpoint: sign in, consent, and errors.

Every value shown is HTML-escaped; no script runs on them. The client is marked unverified
(it registered itself) and its redirect host is shown in ASCII, punycode for an
internationalized name, so a homograph does not read as the real host. Each page is sent with
a strict Content-Security-Policy (no script at all, the one inline style allowed by its hash,
forms may post only here and, after the decision, redirect to the client's own origin),
``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` against clickjacking, and
``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from urllib.parse import urlsplit

from lucent.contract import SCOPE_DESCRIPTIONS
from lucent.oauth.policy import ascii_host

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "color:#1b1b1f}h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;"
    "gap:.4rem 1rem}dt{font-weight:600}ul{padding-left:1.2rem}label{display:block;margin:.6rem 0}"
    "input[type=email],input[type=password],input[type=text]{width:100%;padding:.4rem}"
    "button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a40000;font-weight:600}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


# Every client registers itself (RFC 7591): nobody has checked who runs it or that its name
# is true, and the page says so beside the name.
_UNVERIFIED = (
    '<dt>Publisher</dt><dd id="client-verification"><strong>Unverified</strong>: this '
    "application registered itself. Lucent has not checked its name or who runs it.</dd>"
)


def _origin(uri: str) -> str | None:
    """``scheme://host[:port]`` in ASCII (punycode), or None when ``uri`` has no such origin:
    it is left out of the policy, which then blocks that target rather than carry it raw."""
    scheme = urlsplit(uri).scheme.lower()
    host = ascii_host(uri)
    if scheme not in ("http", "https") or host is None:
        return None
    return f"{scheme}://{host}"


def security_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """The headers of every page. ``form_targets``: URIs a form submission may end up at (the
    client's redirect URI, reached by our 302 after the decision: Chromium applies form-action
    to redirects too). Every value is printable ASCII, whatever a stored client holds."""
    origins = [o for o in (_origin(t) for t in form_targets) if o is not None]
    sources = " ".join(["'self'", *dict.fromkeys(origins)])
    csp = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action {sources}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n{body}\n"
        "</body></html>\n"
    )


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def _details(client_name: str, redirect_uri: str, scopes: Iterable[str], org_line: str) -> str:
    items = "".join(
        f"<li><code>{escape(s)}</code>: {escape(SCOPE_DESCRIPTIONS.get(s, s))}</li>" for s in scopes
    )
    # In ASCII, as browsers show a look-alike host: a homograph reads as xn--...
    host = ascii_host(redirect_uri) or "(not a valid host)"
    return (
        "<dl>"
        f'<dt>Application</dt><dd id="client-name">{escape(client_name)}</dd>'
        + _UNVERIFIED
        + f'<dt>Sends you back to</dt><dd id="redirect-host">{escape(host)}</dd>'
        f'<dt>Organization</dt><dd id="organization">{org_line}</dd>'
        "</dl>"
        f'<p>It asks to:</p><ul id="scopes">{items}</ul>'
    )


def sign_in_page(
    *,
    action: str,
    client_name: str,
    redirect_uri: str,
    scopes: Iterable[str],
    request_query: str,
    csrf_token: str,
    username: str = "",
    error: str | None = None,
) -> str:
    scopes = list(scopes)
    problem = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in to let {escape(client_name)} use your Lucent data</h1>"
        + _details(
            client_name,
            redirect_uri,
            scopes,
            "the one your account belongs to (shown before you approve)",
        )
        + problem
        + f'<form method="post" action="{escape(action)}">'
        + _hidden({"request": request_query, "csrf_token": csrf_token})
        + '<label>Email <input type="email" name="username" autocomplete="username" '
        f'value="{escape(username)}"></label>'
        + '<label>Password <input type="password" name="password" '
        'autocomplete="current-password"></label>'
        + '<button type="submit" name="action" value="sign_in" id="sign-in">Sign in</button>'
        + '<button type="submit" name="action" value="deny" id="deny" formnovalidate>'
        "Cancel</button></form>"
    )
    return _page(f"Sign in - {client_name}", body)


def consent_page(
    *,
    action: str,
    client_name: str,
    redirect_uri: str,
    scopes: Iterable[str],
    org_id: str,
    username: str,
    consent_id: str,
    csrf_token: str,
) -> str:
    body = (
        f"<h1>Allow {escape(client_name)} to use your Lucent data?</h1>"
        f'<p>Signed in as <span id="username">{escape(username)}</span>.</p>'
        + _details(client_name, redirect_uri, scopes, f"<code>{escape(org_id)}</code>")
        + "<p>The access is bound to this organization. You can revoke it at any time.</p>"
        + f'<form method="post" action="{escape(action)}">'
        + _hidden({"consent": consent_id, "csrf_token": csrf_token})
        + '<button type="submit" name="action" value="approve" id="approve">Allow</button>'
        + '<button type="submit" name="action" value="deny" id="deny">Deny</button></form>'
    )
    return _page(f"Allow {client_name}?", body)


def error_page(title: str, message: str, error: str | None = None) -> str:
    code = f'<p>Error: <code id="error-code">{escape(error)}</code></p>' if error else ""
    body = f'<h1>{escape(title)}</h1><p id="error">{escape(message)}</p>{code}'
    return _page(title, body)
