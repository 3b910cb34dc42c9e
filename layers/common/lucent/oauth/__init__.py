"""The OAuth 2.1 authorization server for MCP clients and other agents (docs/oauth.md)."""
