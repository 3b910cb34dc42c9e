"""Where the MCP handler imports its authenticator from (``functions/mcp/mcp_handler.py``).

The audience rule itself (RFC 8707: an OAuth token must have been granted for this endpoint)
moved to ``lucent.auth.audience`` so that the MCP server and the Data API's authorizer share one
comparison; ``Authenticator.authenticate_bearer`` applies it for every caller. This name stays
until the handler imports ``lucent.auth.authenticator.Authenticator`` itself.
"""

from __future__ import annotations

from lucent.auth.authenticator import Authenticator

ResourceAuthenticator = Authenticator

__all__ = ["ResourceAuthenticator"]
