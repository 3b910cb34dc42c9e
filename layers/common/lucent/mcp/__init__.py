"""MCP server: the Data API as tools for AI agents (docs/mcp.md).

``protocol`` (JSON-RPC and the transport's rules per revision: pure), ``tools`` (the tools over
``lucent.issues.service``), ``server`` (the endpoint's order of work), ``events`` (from an API
Gateway proxy event to a request, and this deployment's base URL).
"""
