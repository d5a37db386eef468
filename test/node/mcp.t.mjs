#!/usr/bin/env node
// mcp.t.mjs -- the MCP server on /mcp (SPEC-protocols 2), driven by the official MCP SDK client
// (Client + StreamableHTTPClientTransport) against the real binary, and by raw HTTP for what
// the SDK hides: session headers and their errors, framing errors, Origin, protocol versions,
// the session limits, pagination, tenant isolation and idempotency.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, ok, is, like, rejects, done } from './lib/tap.mjs';
import { startGateway, request, soulgwBin, BASE_TOML, TOKEN } from './lib/gateway.mjs';
import { McpClient, StreamableHTTPClientTransport, mcpTypes } from './lib/deps.mjs';

const SECOND = 'node-test-second';  // tenant-demo, another principal
const OTHER = 'node-test-other';    // tenant-b
const ADMIN = 'node-test-admin';    // tenant-demo, may act for any tenant
const ALLOWED_ORIGIN = 'http://localhost:6274';

const TOKENS = `
[auth.tokens.second]
tenant = "tenant-demo"
token_env = "GATEWAY_TOKEN_SECOND"
scopes = ["tools:execute"]

[auth.tokens.other]
tenant = "tenant-b"
token_env = "GATEWAY_TOKEN_OTHER"
scopes = ["tools:execute", "config:manage"]

[auth.tokens.admin]
tenant = "tenant-demo"
token_env = "GATEWAY_TOKEN_ADMIN"
scopes = ["tools:execute", "tenant:*"]
`;
const ENV = { GATEWAY_TOKEN_SECOND: SECOND, GATEWAY_TOKEN_OTHER: OTHER,
              GATEWAY_TOKEN_ADMIN: ADMIN };

// tenant-demo's registry: every shape tools/list maps, and tools that fail on purpose.
const DEMO_TOOLS = [
  { id: 'echo', version: '1', handler: 'builtin:echo', display_name: 'Echo',
    description: 'Returns its input', side_effect: 'None', idempotency: 'Keyed',
    input_schema: { type: 'object', properties: { x: { type: 'integer' } }, required: ['x'] } },
  { id: 'echo.out', version: '1', handler: 'builtin:echo', side_effect: 'Write',
    output_schema: { type: 'object', properties: { x: { type: 'integer' } } } },
  { id: 'echo.str', version: '1', handler: 'builtin:echo',
    input_schema: { properties: { s: { type: 'string' } } }, output_schema: { type: 'string' } },
  { id: 'guarded', version: '1', handler: 'builtin:echo', scopes: ['admin:secret'] },
  { id: 'small', version: '1', handler: 'builtin:echo', limits: { max_bytes_in: 10 } },
].map((m) => ({ tenant: 'tenant-demo', ...m }));

async function publish(gw, token, version, manifests) {
  const p = await request(gw, 'POST', '/api/config/tools', { token, body: { version, manifests } });
  is(p.status, 200, `registry ${version} published`);
  const a = await request(gw, 'POST', '/api/config/tools/activate',
                          { token, body: { version } });
  is(a.status, 200, `registry ${version} activated`);
}

// A gateway with the test tokens, extra configuration, and tenant-demo's registry.
async function gateway(extra = '', { tools = DEMO_TOOLS, bin } = {}) {
  const gw = await startGateway(BASE_TOML + TOKENS + extra, { env: ENV, bin });
  try {
    if (tools) await publish(gw, TOKEN, 'v1', tools);
  } catch (e) {
    await gw.stop();
    throw e;
  }
  return gw;
}

// One raw JSON-RPC POST to /mcp.
function rpc(gw, body, { session, headers = {}, token } = {}) {
  const h = { accept: 'application/json, text/event-stream', ...headers };
  if (session) h['mcp-session-id'] = session;
  return request(gw, 'POST', '/mcp', { headers: h, body, token });
}

// initialize by raw HTTP; the session id.
async function open(gw, opts = {}) {
  const r = await rpc(gw, { jsonrpc: '2.0', id: 0, method: 'initialize',
                            params: { protocolVersion: '2025-06-18', capabilities: {},
                                      clientInfo: { name: 'raw', version: '1' } } }, opts);
  is(r.status, 200, 'initialize answers 200');
  return r.headers.get('mcp-session-id');
}

function call(id, name, args, meta) {
  const params = { name, arguments: args };
  if (meta) params._meta = meta;
  return { jsonrpc: '2.0', id, method: 'tools/call', params };
}

async function sdkClient(gw, token = TOKEN) {
  const client = new McpClient({ name: 't', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(gw.url + '/mcp'), {
    requestInit: { headers: { authorization: 'Bearer ' + token } },
  });
  await client.connect(transport);
  return { client, transport };
}

// The sum of soulgw_tool_invocations_total{status=...}.
async function invocations(gw, status = 'ok') {
  const text = await (await fetch(gw.url + '/metrics')).text();
  let n = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('soulgw_tool_invocations_total{') && line.includes(`status="${status}"`))
      n += Number(line.split(' ').pop());
  return n;
}

// A JSON-RPC error answer: its HTTP status, code, id and soulgw code.
function isRpcError(r, status, code, id, soulgwCode, what) {
  is(r.status, status, `${what}: HTTP ${status}`);
  is(r.json && r.json.jsonrpc, '2.0', `${what}: a JSON-RPC answer`);
  is(r.json && r.json.error && r.json.error.code, code, `${what}: JSON-RPC code ${code}`);
  is(r.json && r.json.id, id, `${what}: id ${JSON.stringify(id)}`);
  if (soulgwCode)
    is(r.json && r.json.error && r.json.error.data && r.json.error.data.code, soulgwCode,
       `${what}: data.code ${soulgwCode}`);
}

test('mcp_sdk_session_list_call', async () => {
  const gw = await gateway('[mcp]\ninstructions = "Tools of tenant-demo"\n');
  try {
    const before = await invocations(gw);
    const { client, transport } = await sdkClient(gw);
    like(transport.sessionId, /^[0-9a-f]{32}$/, 'the session id is 128 bits of hex');
    is(client.getServerVersion().name, 'soulgw', 'serverInfo.name is soulgw');
    is(client.getInstructions(), 'Tools of tenant-demo', 'the configured instructions');
    ok(client.getServerCapabilities().tools, 'the tools capability');
    is(await client.ping(), {}, 'ping answers {}');

    const { tools, nextCursor } = await client.listTools();
    is(tools.map((t) => t.name), DEMO_TOOLS.map((m) => m.id), 'every tool, in registry order');
    is(nextCursor, undefined, 'one page, no nextCursor');
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    is(byName.echo.title, 'Echo', 'title is display_name');
    is(byName.echo.description, 'Returns its input', 'description');
    is(byName.echo.inputSchema, DEMO_TOOLS[0].input_schema, 'inputSchema is input_schema');
    is(byName.echo.annotations, { readOnlyHint: true, idempotentHint: true },
       'side_effect None and idempotency Keyed: read-only and idempotent');
    is(byName['echo.out'].annotations, { readOnlyHint: false, idempotentHint: false },
       'side_effect Write and idempotency None: neither');
    is(byName['echo.out'].inputSchema, { type: 'object' }, 'no input_schema: {"type":"object"}');
    is(byName['echo.out'].outputSchema, DEMO_TOOLS[1].output_schema,
       'an object output_schema is the outputSchema');
    is(byName['echo.str'].outputSchema, undefined, 'a string output_schema is left out');
    is(byName['echo.str'].inputSchema, { type: 'object', properties: { s: { type: 'string' } } },
       'an input_schema without a type gets "type": "object"');

    const r = await client.callTool({ name: 'echo', arguments: { x: 42 } });
    is(r.isError, false, 'tools/call succeeds');
    is(r.structuredContent, { x: 42 }, 'structuredContent is the result');
    is(r.content, [{ type: 'text', text: '{"x":42}' }], 'content is the result as compact JSON');
    const o = await client.callTool({ name: 'echo.out', arguments: { x: 7 } });
    is(o.structuredContent, { x: 7 }, 'a tool with an outputSchema passes the SDK\'s check');
    is(await invocations(gw), before + 2, 'both runs counted in soulgw_tool_invocations_total');

    const bad = await client.callTool({ name: 'echo', arguments: { x: 'seven' } });
    is(bad.isError, true, 'input against the schema: isError');
    like(bad.content[0].text, /^SCHEMA\.VALIDATION_FAILED: input\.x: /,
         'the text names the soulgw code and the field');
    const e = await rejects(client.callTool({ name: 'nope', arguments: {} }),
                            'an unknown tool is a JSON-RPC error');
    ok(e instanceof mcpTypes.McpError, 'as the SDK\'s McpError');
    is(e && e.code, -32602, 'code -32602');
    like(e && e.message, /Unknown tool: nope/, 'Unknown tool: NAME');

    const sid = transport.sessionId;
    await transport.terminateSession();
    await client.close();
    const after = await rpc(gw, { jsonrpc: '2.0', id: 1, method: 'ping' }, { session: sid });
    isRpcError(after, 404, -32000, null, 'STORAGE.NOT_FOUND', 'a terminated session');
    ok(await gw.waitLog('"route":"mcp"'), 'the access log names the route mcp');
    const m = await (await fetch(gw.url + '/metrics')).text();
    like(m, /soulgw_http_requests_total\{route="mcp"/, 'requests counted under route="mcp"');
  } finally {
    await gw.stop();
  }
});

test('mcp_tool_failures_are_results', async () => {
  const gw = await gateway();
  try {
    const sid = await open(gw);
    const g = await rpc(gw, call(1, 'guarded', {}), { session: sid });
    is(g.status, 200, 'a missing tool scope: 200');
    is(g.json.result.isError, true, 'a missing tool scope: isError');
    like(g.json.result.content[0].text,
         /^AUTH\.FORBIDDEN: insufficient scope: tool guarded needs admin:secret/,
         'the text names AUTH.FORBIDDEN and the scope');
    is(g.json.result.structuredContent, undefined, 'no structuredContent on a failure');
    const s = await rpc(gw, call('s', 'small', { text: 'more than ten bytes' }), { session: sid });
    is(s.json.result.isError, true, 'input over limits.max_bytes_in: isError');
    like(s.json.result.content[0].text, /^REQUEST\.TOO_LARGE: /,
         'the text names REQUEST.TOO_LARGE');
    is(s.json.id, 's', 'the string id is echoed');
    const str = await rpc(gw, call(3, 'echo.str', { s: 'x' }), { session: sid });
    is(str.json.result.isError, true, 'output against the output_schema: isError');
    like(str.json.result.content[0].text, /^[A-Z_]+\.[A-Z_]+: .*output/, 'naming the output');
    const a = await rpc(gw, call(4, 'echo', [1]), { session: sid });
    isRpcError(a, 200, -32602, 4, 'SCHEMA.VALIDATION_FAILED', 'arguments not an object');
    const n = await rpc(gw, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: {} },
                        { session: sid });
    isRpcError(n, 200, -32602, 5, 'SCHEMA.VALIDATION_FAILED', 'no name');
  } finally {
    await gw.stop();
  }
});

test('mcp_host_tool', async () => {
  const bin = join(dirname(soulgwBin()), 'testhost');
  ok(existsSync(bin), `the test host program ${bin} is built`);
  const host = [{ tenant: 'tenant-demo', id: 'upper', version: '1', handler: 'test.upper' },
                { tenant: 'tenant-demo', id: 'failing', version: '1', handler: 'test.fail' }];
  const gw = await gateway('', { tools: host, bin });
  try {
    const { client, transport } = await sdkClient(gw);
    const { tools } = await client.listTools();
    is(tools.map((t) => t.name), ['upper', 'failing'], 'the host\'s C tools are listed');
    const r = await client.callTool({ name: 'upper', arguments: { text: 'abc' } });
    is(r.isError, false, 'a host tool runs');
    like(r.content[0].text, /ABC/, 'with its output');
    const f = await client.callTool({ name: 'failing', arguments: {} });
    is(f.isError, true, 'a host tool that fails: isError');
    like(f.content[0].text, /the test tool failed/, 'with the tool\'s message');
    await transport.terminateSession();
    await client.close();
  } finally {
    await gw.stop();
  }
});

// An HTTP tool's run finishes on another thread: the deferred answer, a timeout, a replay.
test('mcp_http_tool', async () => {
  let arrived;
  const holdArrived = new Promise((r) => { arrived = r; });
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.url === '/slow') return setTimeout(() => res.end('{}'), 3000);
      if (req.url === '/hold') {
        arrived();
        return setTimeout(() => res.end('{}'), 2000);
      }
      const input = JSON.parse(body || '{}');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sum: input.a + input.b }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const tools = [
    { tenant: 'tenant-demo', id: 'add', version: '1', handler: `${base}/add` },
    { tenant: 'tenant-demo', id: 'slow', version: '1', handler: `${base}/slow`,
      limits: { timeout_ms: 300 } },
    { tenant: 'tenant-demo', id: 'single', version: '1', handler: `${base}/hold`,
      limits: { timeout_ms: 20000, max_concurrency: 1 } },
  ];
  const gw = await gateway(`[tools]\nallowed_hosts = ["127.0.0.1:${server.address().port}"]\n`,
                           { tools });
  try {
    const { client, transport } = await sdkClient(gw);
    const r = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    is(r.structuredContent, { sum: 5 }, 'an HTTP tool\'s answer is the structuredContent');
    is(r.content, [{ type: 'text', text: '{"sum":5}' }], 'and the text');
    const k = { 'soulgw/idempotency_key': 'http-1' };
    const k1 = await client.callTool({ name: 'add', arguments: { a: 1, b: 1 }, _meta: k });
    const k2 = await client.callTool({ name: 'add', arguments: { a: 1, b: 1 }, _meta: k });
    is(k1.structuredContent, { sum: 2 }, 'with an idempotency key: recorded, then answered');
    is(k2, k1, 'and replayed');
    const t = await client.callTool({ name: 'slow', arguments: {} });
    is(t.isError, true, 'a tool past its timeout_ms: isError');
    like(t.content[0].text, /^LLM\.TIMEOUT: tool slow did not answer within 300 ms/,
         'naming LLM.TIMEOUT');
    const sid = await open(gw);
    const first = rpc(gw, call(1, 'single', {}), { session: sid });
    await holdArrived; // the first call holds the tool's one slot now
    const second = await rpc(gw, call(2, 'single', {}), { session: sid });
    is(second.json.result.isError, true, 'a call past max_concurrency: isError');
    like(second.json.result.content[0].text, /^QUOTA\.RATE_LIMITED: /,
         'naming QUOTA.RATE_LIMITED');
    is((await first).json.result.isError, false, 'while the first one finishes');
    await transport.terminateSession();
    await client.close();
  } finally {
    await gw.stop();
    server.closeAllConnections();
    server.close();
  }
});

test('mcp_session_errors', async () => {
  const gw = await gateway();
  try {
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    isRpcError(await rpc(gw, ping), 400, -32600, null, 'REQUEST.BAD', 'no Mcp-Session-Id');
    isRpcError(await rpc(gw, ping, { session: 'f'.repeat(32) }), 404, -32000, null,
               'STORAGE.NOT_FOUND', 'an unknown session');
    isRpcError(await rpc(gw, ping, { session: 'not-a-session' }), 404, -32000, null,
               'STORAGE.NOT_FOUND', 'a malformed session id');
    const sid = await open(gw);
    const good = await rpc(gw, ping, { session: sid });
    is(good.status, 200, 'the session answers');
    is(good.json, { jsonrpc: '2.0', id: 1, result: {} }, 'ping: {}');
    isRpcError(await rpc(gw, ping, { session: sid, token: SECOND }), 403, -32001, null,
               'AUTH.FORBIDDEN', 'another principal\'s session');
    isRpcError(await rpc(gw, ping, { session: sid, token: OTHER }), 403, -32001, null,
               'AUTH.FORBIDDEN', 'another tenant\'s principal');
    const asb = await open(gw, { token: ADMIN });
    isRpcError(await rpc(gw, ping, { session: asb, token: ADMIN,
                                     headers: { 'x-soul-tenant': 'tenant-b' } }),
               403, -32001, null, 'AUTH.FORBIDDEN', 'the session used for another tenant');
    is((await rpc(gw, ping, { session: asb, token: ADMIN })).status, 200,
       'and for its own still answers');
    const del = await request(gw, 'DELETE', '/mcp', { headers: { 'mcp-session-id': sid },
                                                      token: SECOND });
    is(del.status, 403, 'another principal cannot end the session');
    is((await request(gw, 'DELETE', '/mcp')).status, 400, 'DELETE without Mcp-Session-Id: 400');
    const end = await request(gw, 'DELETE', '/mcp', { headers: { 'mcp-session-id': sid } });
    is(end.status, 204, 'DELETE ends the session: 204');
    is(end.text, '', 'with no body');
    isRpcError(await rpc(gw, ping, { session: sid }), 404, -32000, null, 'STORAGE.NOT_FOUND',
               'the ended session');
    is((await request(gw, 'DELETE', '/mcp', { headers: { 'mcp-session-id': sid } })).status, 404,
       'ending it again: 404');
  } finally {
    await gw.stop();
  }
});

test('mcp_framing', async () => {
  const gw = await gateway();
  try {
    const get = await request(gw, 'GET', '/mcp', { headers: { accept: 'text/event-stream' } });
    is(get.status, 405, 'GET /mcp: 405');
    like(get.headers.get('allow') || '', /POST, DELETE/, 'Allow names POST and DELETE');
    is(get.json && get.json.error && get.json.error.data.code, 'ROUTE.METHOD_NOT_ALLOWED',
       'as a JSON-RPC error');
    const sid = await open(gw);
    isRpcError(await rpc(gw, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { session: sid }),
               400, -32600, null, 'REQUEST.BAD', 'a batch');
    const parse = await rpc(gw, '{"jsonrpc": "2.0", "id": 1,', { session: sid });
    isRpcError(parse, 400, -32700, null, 'REQUEST.BAD', 'unparseable JSON');
    like(parse.json.error.message, /^Parse error/, 'Parse error');
    isRpcError(await rpc(gw, { hello: 'world' }, { session: sid }), 400, -32600, null,
               'REQUEST.BAD', 'not JSON-RPC');
    isRpcError(await rpc(gw, { jsonrpc: '1.0', id: 1, method: 'ping' }, { session: sid }), 400,
               -32600, 1, 'REQUEST.BAD', 'jsonrpc not 2.0, its id echoed');
    isRpcError(await rpc(gw, { jsonrpc: '2.0', id: 9, method: 'ping', params: [1] },
                         { session: sid }),
               400, -32600, 9, 'REQUEST.BAD', 'params not an object');
    const un = await rpc(gw, { jsonrpc: '2.0', id: 'req-7', method: 'resources/list' },
                         { session: sid });
    isRpcError(un, 200, -32601, 'req-7', 'REQUEST.NOT_IMPLEMENTED', 'an unknown method');
    const big = await rpc(gw, { jsonrpc: '2.0', id: 123456789, method: 'ping' }, { session: sid });
    is(big.json.id, 123456789, 'a numeric id is echoed as a number');
    const n = await rpc(gw, { jsonrpc: '2.0', method: 'notifications/initialized' },
                        { session: sid });
    is(n.status, 202, 'a notification: 202');
    is(n.text, '', 'with no body');
    const resp = await rpc(gw, { jsonrpc: '2.0', id: 5, result: {} }, { session: sid });
    is(resp.status, 202, 'a response from the client: 202');
    is((await rpc(gw, { jsonrpc: '2.0', method: 'notifications/initialized' })).status, 400,
       'a notification needs a session too');
  } finally {
    await gw.stop();
  }
});

test('mcp_auth_and_origin', async () => {
  const gw = await gateway(`[mcp]\nallowed_origins = ["${ALLOWED_ORIGIN}"]\n`);
  try {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} };
    const none = await rpc(gw, init, { token: '' });
    isRpcError(none, 401, -32001, null, 'AUTH.UNAUTHENTICATED', 'no credential');
    is(none.headers.get('www-authenticate'), 'Bearer realm="soulgw"', 'WWW-Authenticate');
    const wrong = await rpc(gw, init, { token: 'wrong' });
    is(wrong.status, 401, 'a wrong token: 401');
    is(wrong.headers.get('www-authenticate'), 'Bearer realm="soulgw"',
       'WWW-Authenticate on that 401 too');
    const evil = await rpc(gw, init, { headers: { origin: 'http://evil.example' } });
    isRpcError(evil, 403, -32001, null, 'AUTH.FORBIDDEN', 'a foreign Origin');
    like(evil.json.error.message, /allowed_origins/, 'the message names allowed_origins');
    const evilAnon = await rpc(gw, init, { token: '', headers: { origin: 'http://evil.example' } });
    is(evilAnon.status, 403, 'a foreign Origin is refused before the credential is looked at');
    const good = await rpc(gw, init, { headers: { origin: ALLOWED_ORIGIN } });
    is(good.status, 200, 'a listed Origin passes');
    ok(good.headers.get('mcp-session-id'), 'and opens a session');
    const { client, transport } = await sdkClient(gw);
    is((await client.listTools()).tools.length, DEMO_TOOLS.length,
       'the SDK, which sends no Origin, is unaffected');
    await transport.terminateSession();
    await client.close();
  } finally {
    await gw.stop();
  }
  const gw2 = await gateway('', { tools: null });
  try {
    const r = await rpc(gw2, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} },
                        { headers: { origin: 'http://localhost:6274' } });
    is(r.status, 403, 'by default no Origin is allowed');
  } finally {
    await gw2.stop();
  }
});

test('mcp_protocol_versions', async () => {
  const gw = await gateway('', { tools: null });
  try {
    const init = (v) => rpc(gw, { jsonrpc: '2.0', id: 1, method: 'initialize',
                                  params: { protocolVersion: v, capabilities: {} } });
    for (const v of ['2025-11-25', '2025-06-18', '2025-03-26'])
      is((await init(v)).json.result.protocolVersion, v, `${v} is answered as asked`);
    is((await init('2024-11-05')).json.result.protocolVersion, '2025-11-25',
       'an unsupported revision is answered with the newest');
    const sid = (await init('2025-03-26')).headers.get('mcp-session-id');
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    is((await rpc(gw, ping, { session: sid, headers: { 'mcp-protocol-version': '2025-06-18' } }))
      .status, 200, 'a supported MCP-Protocol-Version passes');
    isRpcError(await rpc(gw, ping, { session: sid,
                                     headers: { 'mcp-protocol-version': '1999-01-01' } }),
               400, -32600, null, 'REQUEST.BAD', 'an unsupported MCP-Protocol-Version');
  } finally {
    await gw.stop();
  }
});

test('mcp_session_limits', async () => {
  const gw = await gateway('[mcp]\nmax_sessions = 2\n', { tools: null });
  try {
    const a = await open(gw);
    await open(gw);
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} };
    const full = await rpc(gw, init);
    isRpcError(full, 503, -32603, null, 'REQUEST.BUSY', 'beyond max_sessions');
    ok(!full.headers.get('mcp-session-id'), 'and no session id');
    is((await request(gw, 'DELETE', '/mcp', { headers: { 'mcp-session-id': a } })).status, 204,
       'one session ended');
    is((await rpc(gw, init)).status, 200, 'makes room for a new one');
  } finally {
    await gw.stop();
  }
  const gw2 = await gateway('[mcp]\nsession_idle_s = 1\nmax_sessions = 1\n', { tools: null });
  try {
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    const sid = await open(gw2);
    is((await rpc(gw2, ping, { session: sid })).status, 200, 'a fresh session answers');
    await sleep(2500);
    isRpcError(await rpc(gw2, ping, { session: sid }), 404, -32000, null, 'STORAGE.NOT_FOUND',
               'a session idle past session_idle_s is forgotten');
    await open(gw2);
    await sleep(2500);
    ok(await open(gw2), 'an expired session does not count against max_sessions');
  } finally {
    await gw2.stop();
  }
});

test('mcp_pagination', async () => {
  const many = Array.from({ length: 250 }, (_, i) => ({
    tenant: 'tenant-demo', id: `t.${String(i).padStart(3, '0')}`, version: '1',
    handler: 'builtin:echo' }));
  const gw = await gateway('', { tools: many });
  try {
    const sid = await open(gw);
    const list = (id, params) => rpc(gw, { jsonrpc: '2.0', id, method: 'tools/list', params },
                                     { session: sid });
    const p1 = await list(1, {});
    is(p1.json.result.tools.length, 100, 'the first page holds 100 tools');
    ok(typeof p1.json.result.nextCursor === 'string', 'with a nextCursor');
    const p2 = await list(2, { cursor: p1.json.result.nextCursor });
    is(p2.json.result.tools[0].name, 't.100', 'the second page starts where the first ended');
    const p3 = await list(3, { cursor: p2.json.result.nextCursor });
    is(p3.json.result.tools.length, 50, 'the last page holds the rest');
    is(p3.json.result.nextCursor, undefined, 'and no nextCursor');
    isRpcError(await list(4, { cursor: 'bogus' }), 200, -32602, 4, 'SCHEMA.VALIDATION_FAILED',
               'a cursor tools/list never gave');
    isRpcError(await list(5, { cursor: 7 }), 200, -32602, 5, 'SCHEMA.VALIDATION_FAILED',
               'a cursor that is not a string');

    const { client, transport } = await sdkClient(gw);
    const names = [];
    let cursor;
    let pages = 0;
    do {
      const r = await client.listTools(cursor ? { cursor } : {});
      names.push(...r.tools.map((t) => t.name));
      cursor = r.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    is(pages, 3, 'the SDK pages through three pages');
    is(names, many.map((m) => m.id), 'every tool once, in order');
    await transport.terminateSession();
    await client.close();
  } finally {
    await gw.stop();
  }
});

test('mcp_tenant_isolation', async () => {
  const gw = await gateway();
  try {
    await publish(gw, OTHER, 'b1', [{ tenant: 'tenant-b', id: 'b.only', version: '1',
                                      handler: 'builtin:echo' }]);
    const a = await sdkClient(gw, TOKEN);
    const b = await sdkClient(gw, OTHER);
    const namesA = (await a.client.listTools()).tools.map((t) => t.name);
    const namesB = (await b.client.listTools()).tools.map((t) => t.name);
    is(namesB, ['b.only'], 'tenant-b sees only its tool');
    ok(!namesA.includes('b.only'), 'tenant-demo does not see tenant-b\'s tool');
    const e = await rejects(a.client.callTool({ name: 'b.only', arguments: {} }),
                            'tenant-demo calling tenant-b\'s tool');
    like(e && e.message, /Unknown tool: b\.only/, 'is an Unknown tool');
    const eb = await rejects(b.client.callTool({ name: 'echo', arguments: { x: 1 } }),
                             'tenant-b calling tenant-demo\'s tool');
    like(eb && eb.message, /Unknown tool: echo/, 'is an Unknown tool too');
    is((await b.client.callTool({ name: 'b.only', arguments: { y: 2 } })).structuredContent,
       { y: 2 }, 'tenant-b runs its own tool');
    for (const c of [a, b]) {
      await c.transport.terminateSession();
      await c.client.close();
    }
  } finally {
    await gw.stop();
  }
});

test('mcp_idempotency', async () => {
  const gw = await gateway();
  try {
    const sid = await open(gw);
    const meta = { 'soulgw/idempotency_key': 'order-1' };
    const before = await invocations(gw);
    const r1 = await rpc(gw, call(1, 'echo', { x: 1 }, meta), { session: sid });
    is(r1.json.result.structuredContent, { x: 1 }, 'the first call runs');
    ok(!r1.headers.get('idempotent-replayed'), 'not a replay');
    const r2 = await rpc(gw, call('again', 'echo', { x: 1 }, meta), { session: sid });
    is(r2.headers.get('idempotent-replayed'), 'true', 'the second is replayed');
    is(r2.json.id, 'again', 'with its own id');
    is(r2.json.result, r1.json.result, 'and the first one\'s result');
    is(await invocations(gw), before + 1, 'the tool ran once');
    const r3 = await rpc(gw, call(3, 'echo', { x: 2 }, meta), { session: sid });
    is(r3.json.result.isError, true, 'the key with other arguments: isError');
    like(r3.json.result.content[0].text, /^STORAGE\.CONFLICT: idempotency key reused/,
         'naming STORAGE.CONFLICT');
    const api = await request(gw, 'POST', '/api/tools/execute',
                              { body: { tool_id: 'echo', input: { x: 1 },
                                        idempotency_key: 'order-1' } });
    is(api.status, 200, '/api/tools/execute with the same key');
    ok(!api.headers.get('idempotent-replayed'), 'is not served MCP\'s record');
    is(api.json.status, 'ok', 'and answers in its own shape');
    const bad = await rpc(gw, call(4, 'echo', { x: 1 }, { 'soulgw/idempotency_key': 5 }),
                          { session: sid });
    isRpcError(bad, 200, -32602, 4, 'SCHEMA.VALIDATION_FAILED', 'a key that is not a string');
    const { client, transport } = await sdkClient(gw);
    const s1 = await client.callTool({ name: 'echo', arguments: { x: 9 },
                                       _meta: { 'soulgw/idempotency_key': 'sdk-1' } });
    const s2 = await client.callTool({ name: 'echo', arguments: { x: 9 },
                                       _meta: { 'soulgw/idempotency_key': 'sdk-1' } });
    is(s2, s1, 'the SDK passes _meta through: the replay is the same result');
    is(await invocations(gw), before + 3, 'the SDK\'s pair ran the tool once');
    await transport.terminateSession();
    await client.close();
  } finally {
    await gw.stop();
  }
});

await done();
