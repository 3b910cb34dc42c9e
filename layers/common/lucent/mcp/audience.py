"""RFC 8707 audience: the MCP server accepts only tokens meant for it (docs/mcp.md).

The MCP authorization specification says a server MUST refuse tokens not issued for it. An OAuth
access token (``luc_oat_``) records the resource it was granted for (``CredentialRecord.resource``,
set by the authorization server from the ``resource`` parameter); a token granted for the Data
API (``<base>/api/v1``) must not open ``<base>/mcp``, or any resource server could replay the
tokens it receives at another. Credentials without a resource (API keys, legacy ``luc_mcp_``
keys, OAuth tokens minted by ``lucent keys create``) were never bound to one and keep working.

The check lives here rather than in ``lucent.auth`` because ``Principal`` (what the authorizer
hands the functions) does not carry the resource; this subclass reads the record through the
same per-container cache, so it costs no extra read.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from lucent.auth.authenticator import Authenticator, bearer_token
from lucent.auth.credentials import BEARER_KINDS, Principal
from lucent.errors import InvalidBearerToken


def normalize_resource(url: str) -> str:
    """The form two resource URLs are compared in: scheme and host lower-cased (RFC 3986 says
    they are case-insensitive), no trailing slash, no fragment; the path keeps its case."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


class ResourceAuthenticator(Authenticator):
    """``Authenticator`` that also refuses a bearer token bound to another resource."""

    def authenticate_bearer_for(
        self, authorization: str | None, challenge_scope: str, resource: str
    ) -> Principal:
        """The caller if its token is usable here; ``InvalidBearerToken`` otherwise.

        A token for another resource is refused exactly like an unknown one (same 401, same
        challenge): telling the caller that the token exists elsewhere would help nobody but
        someone holding a stolen one.
        """
        token = bearer_token(authorization)
        if token is None:
            raise InvalidBearerToken(challenge_scope)
        record = self._usable(token, BEARER_KINDS)
        if record is None:
            raise InvalidBearerToken(challenge_scope)
        if record.resource is not None and normalize_resource(
            record.resource
        ) != normalize_resource(resource):
            raise InvalidBearerToken(challenge_scope)
        return Principal.from_record(record)
