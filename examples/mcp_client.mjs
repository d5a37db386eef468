// mcp_client.mjs -- the official MCP SDK client pointed at soulgw's /mcp (Streamable HTTP):
// initialize, list the tenant's tools, call one, end the session.
//
//   npm install @modelcontextprotocol/sdk
//   SOULGW_URL=http://127.0.0.1:8080 GATEWAY_TOKEN_LOCAL=dev-token node mcp_client.mjs
//
// The tools are the tenant's active registry (demo.echo in conf/manifests.json); each call runs
// through the same pipeline as POST /api/tools/execute.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(`${process.env.SOULGW_URL || 'http://127.0.0.1:8080'}/mcp`);
const token = process.env.GATEWAY_TOKEN_LOCAL || 'dev-token';
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { authorization: `Bearer ${token}` } },
});
const client = new Client({ name: 'soulgw-example', version: '1.0.0' });
await client.connect(transport);
console.log(`server: ${client.getServerVersion().name} ${client.getServerVersion().version}`);

const { tools } = await client.listTools();
console.log(`tools: ${tools.map((t) => t.name).join(' ')}`);

const result = await client.callTool({ name: 'demo.echo', arguments: { msg: 'hi' } });
console.log(`call: ${result.content[0].text} isError=${result.isError}`);

await transport.terminateSession();
await client.close();
console.log('session ended');
