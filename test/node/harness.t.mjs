#!/usr/bin/env node
// harness.t.mjs -- the node test kit itself: the pinned SDKs load, the real binary starts and
// stops, and a refusal of an OpenAI route reaches the SDK as its typed error.
import { test, ok, is, like, rejects, done } from './lib/tap.mjs';
import { startGateway } from './lib/gateway.mjs';
import { OpenAI, openaiErrors, McpClient, StreamableHTTPClientTransport } from './lib/deps.mjs';

test('node_harness_sdks_load', async () => {
  is(typeof OpenAI, 'function', 'the openai SDK loads');
  is(typeof McpClient, 'function', 'the MCP SDK client loads');
  is(typeof StreamableHTTPClientTransport, 'function', 'the MCP Streamable HTTP transport loads');
});

test('node_harness_gateway_health', async () => {
  const gw = await startGateway();
  try {
    const r = await fetch(gw.url + '/health');
    is(r.status, 200, '/health answers 200');
    is((await r.json()).status, 'ok', '/health says ok');
  } finally {
    await gw.stop();
  }
});

test('node_harness_openai_sdk_wrong_key', async () => {
  const gw = await startGateway();
  try {
    const client = new OpenAI({ baseURL: gw.url + '/v1', apiKey: 'not-a-token', maxRetries: 0 });
    const e = await rejects(client.models.list(), 'a wrong key is refused');
    ok(e instanceof openaiErrors.AuthenticationError, 'as the SDK\'s AuthenticationError');
    is(e && e.status, 401, 'status 401');
    is(e && e.code, 'AUTH.UNAUTHENTICATED', 'the soulgw code as the OpenAI code');
    is(e && e.type, 'authentication_error', 'the OpenAI error type');
    like(e && e.requestID, /^[0-9a-f-]{8,}/, 'the request id reaches the SDK');
  } finally {
    await gw.stop();
  }
});

await done();
