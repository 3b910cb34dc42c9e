"""RFC 8707 audience: a resource server accepts only the OAuth tokens granted for it.

An OAuth access token (``luc_oat_``) records the resource it was granted for
(``CredentialRecord.resource``, set by the authorization server from the ``resource``
parameter). The MCP authorization specification says a server MUST refuse tokens not issued for
it: a token granted for ``<base>/mcp`` must not open ``<base>/api/v1`` (nor the reverse), or any
resource server could replay the tokens it receives at another. Credentials without a resource
(API keys, legacy ``luc_mcp_`` keys, OAuth tokens minted by ``lucent keys create``) were never
bound to one and keep working everywhere their scopes allow.

This is the one comparison: the MCP function and the Data API's authorizer both reach it
through ``Authenticator.authenticate_bearer`` (docs/oauth.md, "Audience").
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def normalize_resource(url: str) -> str:
    """The form two resource URLs are compared in: scheme and host lower-cased (RFC 3986 says
    they are case-insensitive), no trailing slash, no fragment; the path keeps its case."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def accepts(bound_to: str | None, resource: str) -> bool:
    """Whether a credential bound to ``bound_to`` (``None``: to nothing) may be used at
    ``resource``, the URL of the resource server being called."""
    return bound_to is None or normalize_resource(bound_to) == normalize_resource(resource)
