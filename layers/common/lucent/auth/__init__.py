"""Credentials and who may call what: format and issuance rules (``credentials``), the
credentials table (``store``), authentication with its per-container cache (``authenticator``)
and the API Gateway authorizer's decision (``authorizer``)."""
