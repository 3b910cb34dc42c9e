"""MCP server: the Data API as tools for AI agents (docs/mcp.md).

``protocol`` (JSON-RPC and the transport's rules per revision: pure), ``tools`` (the registry:
each tool over ``lucent.issues.service``, and dispatch), ``schemas`` (what each tool accepts and
answers), ``rendering`` (the text the model reads), ``untrusted`` (page content in that text),
``server`` (the endpoint's order of work), ``events`` (from an API Gateway proxy event to a
request, and this deployment's base URL).
"""
