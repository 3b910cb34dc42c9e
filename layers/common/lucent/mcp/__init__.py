"""MCP server: the Data API as tools for AI agents (docs/mcp.md).

``protocol`` (JSON-RPC and the transport's rules per revision: pure), ``tools`` (the registry:
each tool over ``lucent.issues.service``, and dispatch), ``schemas`` (what each tool accepts and
answers: pydantic models), ``rendering`` (the text the model reads), ``untrusted`` (page content
in that text), ``server`` (the endpoint's order of work, from one ``lucent.http.Request`` to one
``lucent.http.Reply``).
"""
