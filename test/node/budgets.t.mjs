#!/usr/bin/env node
// budgets.t.mjs -- budgets and the usage ledger (SPEC-llm-routing 2 and 3) as the official SDKs
// see them: the OpenAI SDK raises RateLimitError for BUDGET.EXCEEDED on /v1/chat/completions
// (with maxRetries 0: it would otherwise wait for Retry-After, the seconds to midnight), and MCP
// tools/call both counts in the ledger and is refused at the tool cap with a failed result.
import { test, ok, is, like, rejects, done } from './lib/tap.mjs';
import { startGateway, request, BASE_TOML, TOKEN } from './lib/gateway.mjs';
import { OpenAI, openaiErrors as E, McpClient, StreamableHTTPClientTransport } from './lib/deps.mjs';

const TOML = BASE_TOML.replace('"config:manage"]', '"config:manage", "usage:read"]') + `
[tenants.tenant-demo]
llm_tokens_per_day = 10
tool_calls_per_day = 2
`;

async function gateway() {
  const gw = await startGateway(TOML);
  const p = await request(gw, 'POST', '/api/config/tools', { token: TOKEN, body: { version: 'v1',
    manifests: [{ tenant: 'tenant-demo', id: 'echo', version: '1', handler: 'builtin:echo' }] } });
  is(p.status, 200, 'a registry with one tool');
  return gw;
}

test('budgets_openai_sdk_rate_limit_error', async () => {
  const gw = await gateway();
  try {
    const client = new OpenAI({ baseURL: gw.url + '/v1', apiKey: TOKEN, maxRetries: 0 });
    const msgs = [{ role: 'user', content: 'one two three' }];
    const a = await client.chat.completions.create({ model: 'local:echo', messages: msgs });
    const used = a.usage.prompt_tokens + a.usage.completion_tokens;
    ok(used > 0 && used < 10, `the first call fits (${used} tokens)`);
    await client.chat.completions.create({ model: 'local:echo', messages: msgs });
    const e = await rejects(client.chat.completions.create({ model: 'local:echo', messages: msgs }),
                            'over the cap: the SDK throws');
    ok(e instanceof E.RateLimitError, 'as a RateLimitError');
    is(e && e.status, 429, 'status 429');
    is(e && e.code, 'BUDGET.EXCEEDED', 'code BUDGET.EXCEEDED');
    is(e && e.type, 'rate_limit_error', 'type rate_limit_error');
    like(e && e.message, /llm_tokens_per_day = 10/, 'the message names the cap');
    ok(Number(e && e.headers && (e.headers.get ? e.headers.get('retry-after') : e.headers['retry-after'])) > 0,
       'Retry-After: seconds to midnight UTC');
    const u = await request(gw, 'GET', '/api/usage', { token: TOKEN });
    is(u.json.rows.length, 1, 'one ledger row');
    is(u.json.rows[0].name, 'local:echo', 'named by the model');
    is(u.json.rows[0].requests, 2, 'the refused call is not counted');
    is(u.json.totals.input_tokens + u.json.totals.output_tokens, 2 * used, 'the tokens the SDK was told');
  } finally {
    await gw.stop();
  }
});

test('budgets_mcp_tools_call', async () => {
  const gw = await gateway();
  try {
    const client = new McpClient({ name: 't', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url + '/mcp'), {
      requestInit: { headers: { authorization: 'Bearer ' + TOKEN } } }));
    for (let i = 0; i < 2; i++) {
      const r = await client.callTool({ name: 'echo', arguments: { i } });
      is(r.isError, false, `tools/call ${i + 1} of 2`);
    }
    const r = await client.callTool({ name: 'echo', arguments: { i: 3 } });
    is(r.isError, true, 'the third: a failed result');
    like(JSON.stringify(r.content), /BUDGET\.EXCEEDED|tool_calls_per_day = 2/, 'saying the budget');
    await client.close();
    const u = await request(gw, 'GET', '/api/usage?group_by=kind', { token: TOKEN });
    const tool = u.json.rows.find((x) => x.kind === 'tool');
    is(tool && tool.requests, 2, 'the ledger counts the two MCP runs');
  } finally {
    await gw.stop();
  }
});

await done();
