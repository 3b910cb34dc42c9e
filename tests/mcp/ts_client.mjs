// The official TypeScript SDK client against our MCP server (run by tests/integration/test_mcp_clients.py).
// Usage: node ts_client.mjs <url> <read token> <write token> <protocol version: 2025-11-25 | 2025-06-18> <issue id> <session id>
// Prints one JSON object: what the client saw. The SDK (1.32.x) offers 2025-11-25 at initialize;
// for 2025-06-18 the initialize request's offer is rewritten on its way out, after which the SDK
// itself adopts what the server answered and sends it in MCP-Protocol-Version.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { extractWWWAuthenticateParams, discoverOAuthProtectedResourceMetadata } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, readToken, writeToken, version, issueId, sessionId] = process.argv.slice(2);
const seen = { statuses: [] };

async function connect(token) {
  const fetchSpy = async (input, init) => {
    const response = await fetch(input, init);
    seen.statuses.push(response.status);
    if (response.status === 403) seen.challenge403 = response.headers.get("www-authenticate");
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: fetchSpy,
  });
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (message.method === "initialize") message.params.protocolVersion = version;
    return send(message, options);
  };
  const client = new Client({ name: "lucent-tests-ts", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

const { client, transport } = await connect(readToken);
seen.protocolVersion = transport.protocolVersion;
seen.serverVersion = client.getServerVersion();
const tools = await client.listTools();
seen.tools = tools.tools.map((t) => t.name);
seen.calls = {};
seen.calls.list_issues = await client.callTool({ name: "list_issues", arguments: { status: "open", limit: 3 } });
seen.calls.get_issue = await client.callTool({ name: "get_issue", arguments: { issue_id: issueId } });
seen.calls.list_signals = await client.callTool({ name: "list_signals", arguments: { issue_id: issueId, limit: 2 } });
seen.calls.list_insights = await client.callTool({ name: "list_insights", arguments: { limit: 2 } });
seen.calls.get_session_timeline = await client.callTool({ name: "get_session_timeline", arguments: { session_id: sessionId, limit: 5 } });
seen.calls.unknown_session = await client.callTool({ name: "get_session_timeline", arguments: { session_id: "no-such" } });
seen.calls.unknown_issue = await client.callTool({ name: "get_issue", arguments: { issue_id: "iss_01JZZZZZZZZZZZZZZZZZZZZZZZ" } });
try {
  await client.callTool({ name: "update_issue_status", arguments: { issue_id: issueId, status: "resolved" } });
  seen.readUpdate = "succeeded";
} catch (error) {
  seen.readUpdate = String(error.message || error);
}
await client.close();

const writer = await connect(writeToken);
seen.calls.update_issue_status = await writer.client.callTool({
  name: "update_issue_status",
  arguments: { issue_id: issueId, status: "resolved" },
});
await writer.client.close();

// No token: the 401 names the resource metadata, which the SDK's discovery then reads.
const unauthorized = await fetch(url, {
  method: "POST",
  headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
});
seen.status401 = unauthorized.status;
const params = extractWWWAuthenticateParams(unauthorized);
seen.challenge = { resourceMetadataUrl: params.resourceMetadataUrl?.href ?? null, scope: params.scope ?? null };
seen.metadata = await discoverOAuthProtectedResourceMetadata(url, { resourceMetadataUrl: params.resourceMetadataUrl });
console.log(JSON.stringify(seen));
