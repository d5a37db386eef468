#!/usr/bin/env node
// openai.t.mjs -- the OpenAI-compatible API (/v1/chat/completions, /v1/embeddings, /v1/models)
// driven by the official openai SDK against the real binary, with a mock OpenAI upstream that
// misbehaves on purpose (lib/mock_openai.mjs), plus raw HTTP for what the SDK hides: SSE
// framing, no [DONE] after an error event, statuses and headers.
import { test, ok, is, like, rejects, diag, done } from './lib/tap.mjs';
import { startGateway, request, BASE_TOML, TOKEN } from './lib/gateway.mjs';
import { OpenAI, openaiErrors as E } from './lib/deps.mjs';
import { startMockOpenAI, UPSTREAM_KEY } from './lib/mock_openai.mjs';

const READER = 'reader-token-0123456789abcdef';
const SLOWPOKE = 'limited-token-0123456789abcdef';

function toml(up) {
  return `${BASE_TOML}
max_body_bytes = 65536
[auth.tokens.reader]
tenant = "tenant-demo"
token = "${READER}"
scopes = ["repo:read"]

[auth.tokens.limited]
tenant = "tenant-demo"
token = "${SLOWPOKE}"
scopes = ["llm:invoke"]
rate = 1
burst = 1

[llm.providers.up]
kind = "openai"
base_url = "${up.url}/v1"
api_key = "${UPSTREAM_KEY}"
timeout_ms = 1000
retries = 0
models = ["gpt-4o-mini", "ok"]

[llm.providers.up2]
kind = "openai"
base_url = "${up.url}/v1"
timeout_ms = 1000
retries = 1
`.replace('[server]\n', '[server]\n').replace('drain_timeout_s = 5\n', 'drain_timeout_s = 5\nmax_body_bytes = 65536\n')
    .replace(/\nmax_body_bytes = 65536\n\[auth.tokens.reader\]/, '\n[auth.tokens.reader]');
}

let fixture;
async function shared() {
  if (fixture) return fixture;
  const up = await startMockOpenAI();
  const gw = await startGateway(toml(up));
  process.on('exit', () => { try { gw.child.kill('SIGKILL'); } catch { /* gone */ } });
  const client = new OpenAI({ baseURL: gw.url + '/v1', apiKey: TOKEN, maxRetries: 0 });
  fixture = { up, gw, client };
  return fixture;
}

async function metrics(gw) {
  return (await request(gw, 'GET', '/metrics')).text;
}

function metricValue(text, line) {
  const l = text.split('\n').find((x) => x.startsWith(line + ' '));
  return l ? Number(l.slice(line.length + 1)) : 0;
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

// ---------------------------------------------------------------------------------------------

test('openai_chat_local_echo', async () => {
  const { client } = await shared();
  const { data, request_id } = await client.chat.completions.create({
    model: 'local:echo',
    messages: [{ role: 'system', content: 'you echo' },
               { role: 'user', content: [{ type: 'text', text: 'hello' }, { type: 'text', text: 'world' }] }],
    some_future_field: { x: 1 },
  }).withResponse();
  is(data.object, 'chat.completion', 'a chat.completion object');
  is(data.model, 'local:echo', 'model as the client asked');
  is(data.choices[0].message.role, 'assistant', 'the assistant answers');
  is(data.choices[0].message.content, 'echo: hello\nworld', 'local:echo echoes the last user message (text parts)');
  is(data.choices[0].finish_reason, 'stop', 'finish_reason stop');
  is(data.id, `chatcmpl-${request_id}`, 'id is chatcmpl-<request id>');
  ok(Number.isInteger(data.created) && data.created > 1.6e9, 'created in Unix seconds');
  is(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens, 'usage adds up');
  ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens === 3, 'usage counted');
});

test('openai_chat_relay_body_intact', async () => {
  const { client, up } = await shared();
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather',
                   parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const sent = {
    model: 'up:ok',
    messages: [{ role: 'user', content: 'weather in Paris?' }],
    tools, tool_choice: 'auto', response_format: { type: 'json_object' },
    parallel_tool_calls: false, x_vendor_extension: { nested: [1, 'two', null] },
  };
  const r = await client.chat.completions.create(sent);
  const got = up.last('/chat/completions');
  is(got.path, '/v1/chat/completions', 'relayed to base_url + /chat/completions');
  is(got.headers.authorization, `Bearer ${UPSTREAM_KEY}`, "with the provider's key, not the client's");
  is(got.json, { ...sent, model: 'ok' }, 'upstream got the body with only model rewritten');
  is(r.model, 'up:ok', 'the answer has model set back to what the client asked');
  is(r.system_fingerprint, 'fp_mock', "the upstream's other fields survive");
  is(r.choices[0].finish_reason, 'tool_calls', 'finish_reason relayed');
  is(r.choices[0].message.tool_calls[0].function.name, 'get_weather', 'tool_calls reach the SDK');
  is(r.choices[0].message.tool_calls[0].function.arguments, '{"city":"Paris"}', 'with their arguments');
  is(r.usage.total_tokens, 18, "the upstream's usage relayed");

  // byte for byte: odd spacing, escapes and key order survive the splice
  const { gw } = await shared();
  const raw = '{ "z_first" : 1,\n "model"  :  "up:ok" , "messages":[{"role":"user","content":"caf\\u00e9 \\"q\\""}],'
    + '"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}},"n":1 }';
  const rr = await request(gw, 'POST', '/v1/chat/completions', { body: raw });
  is(rr.status, 200, 'a raw body is relayed');
  is(up.last('/chat/completions').body, raw.replace('"up:ok"', '"ok"'), 'upstream got the bytes with only the model value changed');
  is(rr.json && rr.json.model, 'up:ok', 'model set back');
  const m = await metrics(gw);
  ok(metricValue(m, 'soulgw_llm_tokens_total{model="up:*",direction="input"}') >= 22, 'input tokens counted from usage');
  ok(metricValue(m, 'soulgw_llm_tokens_total{model="up:*",direction="output"}') >= 14, 'output tokens counted from usage');
});

test('openai_chat_stream_local', async () => {
  const { client } = await shared();
  const stream = await client.chat.completions.create({
    model: 'local:echo', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'hello streaming world' }],
  });
  const chunks = await collect(stream);
  is(chunks[0].choices[0].delta.role, 'assistant', 'the first delta carries role assistant');
  const text = chunks.map((c) => (c.choices[0] && c.choices[0].delta.content) || '').join('');
  is(text, 'echo: hello streaming world', 'content pieces join to the answer');
  const withContent = chunks.filter((c) => c.choices[0] && c.choices[0].delta.content);
  is(withContent[withContent.length - 1].choices[0].finish_reason, 'stop', 'the last content chunk carries finish_reason');
  const last = chunks[chunks.length - 1];
  is(last.choices, [], 'the usage chunk has empty choices');
  is(last.usage && last.usage.completion_tokens, 4, 'and the usage');
  ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'local:echo'), 'every chunk a chat.completion.chunk of the model');
});

test('openai_chat_stream_relay', async () => {
  const { client, up, gw } = await shared();
  let chunks = await collect(await client.chat.completions.create({
    model: 'up:stream', stream: true, messages: [{ role: 'user', content: 'count' }] }));
  is(chunks.map((c) => (c.choices[0] && c.choices[0].delta.content) || '').join(''), 'one two three', 'relayed pieces join');
  ok(chunks.every((c) => c.model === 'up:stream'), 'every chunk has model set back');
  ok(chunks.every((c) => c.choices.length > 0), 'no usage chunk the client did not ask for');
  is(up.last('/chat/completions').json.stream_options, { include_usage: true }, 'the relay asked upstream for usage, to count tokens');
  chunks = await collect(await client.chat.completions.create({
    model: 'up:stream', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'count' }] }));
  is(chunks[chunks.length - 1].usage, { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }, 'the usage chunk when asked for');
  const r = await fetch(gw.url + '/v1/chat/completions', { method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'up:stream', stream: true, messages: [{ role: 'user', content: 'x' }] }) });
  is(r.headers.get('content-type'), 'text/event-stream', 'Content-Type text/event-stream');
  like(r.headers.get('x-request-id') || '', /^[0-9a-f]{16,}$/, 'X-Request-Id on a stream');
  const text = await r.text();
  ok(/^(data: \{[^\n]*\}\n\n)+data: \[DONE\]\n\n$/.test(text), 'raw framing: data: <json> events, then data: [DONE]');
});

test('openai_chat_stream_cut_throws', async () => {
  const { client, gw } = await shared();
  const before = metricValue(await metrics(gw), 'soulgw_llm_stream_truncated_total{provider="up"}');
  for (const model of ['up:cut', 'up:nodone']) {
    const pieces = [];
    const e = await rejects((async () => {
      for await (const c of await client.chat.completions.create({
        model, stream: true, messages: [{ role: 'user', content: 'x' }] })) {
        pieces.push((c.choices[0] && c.choices[0].delta.content) || '');
      }
    })(), `${model}: the SDK's iteration throws`);
    ok(e instanceof E.APIError, `${model}: as an APIError`);
    is(pieces.join(''), 'one two ', `${model}: what came before the cut was relayed`);
    like(e && e.message, /closed the stream before it finished|cut the stream off before it finished/, `${model}: the error says the stream was cut`);
  }
  const after = metricValue(await metrics(gw), 'soulgw_llm_stream_truncated_total{provider="up"}');
  is(after - before, 2, 'soulgw_llm_stream_truncated_total{provider="up"} counts both');
  const e = await rejects(collect(await client.chat.completions.create({
    model: 'up:errevent', stream: true, messages: [{ role: 'user', content: 'x' }] })), 'an upstream error event throws too');
  ok(e && !String(e.message).includes(UPSTREAM_KEY), "the upstream's own error text (quoting the key) is not relayed");
  await rejects(collect(await client.chat.completions.create({
    model: 'up:garbage', stream: true, messages: [{ role: 'user', content: 'x' }] })), 'an event that is not JSON throws');
});

test('openai_chat_stream_raw_error_event', async () => {
  const { gw } = await shared();
  const r = await request(gw, 'POST', '/v1/chat/completions',
    { body: { model: 'up:cut', stream: true, messages: [{ role: 'user', content: 'x' }] } });
  is(r.status, 200, 'the stream had opened');
  const events = r.text.split('\n\n').filter((x) => x);
  const last = events[events.length - 1];
  ok(!r.text.includes('[DONE]'), 'no [DONE] after a failure');
  is(events.filter((x) => x.includes('"error"')).length, 1, 'exactly one error event');
  ok(last.startsWith('data: {"error":'), 'and it is the last event');
  const err = JSON.parse(last.slice(6)).error;
  is(err.type, 'api_error', 'error.type api_error');
  is(err.code, 'PROVIDER.UNAVAILABLE', 'error.code the soulgw code');
  ok(typeof err.message === 'string' && err.message.length > 0, 'error.message says why');
  // a local stream, raw: exact framing
  const l = await request(gw, 'POST', '/v1/chat/completions',
    { body: { model: 'local:echo', stream: true, messages: [{ role: 'user', content: 'a b' }] } });
  ok(/^(data: \{[^\n]*\}\n\n)+data: \[DONE\]\n\n$/.test(l.text), 'a local stream: data: events then [DONE]');
});

test('openai_embeddings', async () => {
  const { client, up } = await shared();
  const f = await client.embeddings.create({ model: 'local:emb', input: ['alpha', 'beta'], encoding_format: 'float' });
  is(f.object, 'list', 'a list');
  is(f.data.length, 2, 'one embedding per input');
  is(f.data[1].index, 1, 'with its index');
  is(f.data[0].embedding.length, 8, 'local:emb has 8 dimensions');
  is(f.model, 'local:emb', 'model as asked');
  ok(f.usage.prompt_tokens === 2 && f.usage.total_tokens === 2, 'usage');
  // the SDK's default: it asks for base64 and decodes it
  const { data: b, response } = await client.embeddings.create({ model: 'local:emb', input: ['alpha', 'beta'] }).withResponse();
  ok(response.ok, 'the default (base64) request succeeds');
  is(b.data[0].embedding, f.data[0].embedding.map(Math.fround), 'base64 decodes to the float32 of the float answer');
  is(b.data[1].embedding, f.data[1].embedding.map(Math.fround), 'for every input');
  const raw = await request((await shared()).gw, 'POST', '/v1/embeddings',
    { body: { model: 'local:emb', input: 'alpha', encoding_format: 'base64' } });
  like(raw.json && raw.json.data[0].embedding, /^[A-Za-z0-9+/]{43}=$/, 'base64 on the wire: 32 bytes as standard base64');
  const s = await client.embeddings.create({ model: 'local:emb', input: 'one string', encoding_format: 'float' });
  is(s.data.length, 1, 'a single string is one input');
  const d = await client.embeddings.create({ model: 'up:text-embedding-3-small', input: ['a', 'b'], dimensions: 6, encoding_format: 'float' });
  is(up.last('/embeddings').json, { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 6 }, 'dimensions passed to an openai provider');
  is(d.data[0].embedding.length, 6, 'and its vectors come back');
  let e = await rejects(client.embeddings.create({ model: 'local:emb', input: 'x', dimensions: 4 }), 'local:emb refuses 4 dimensions');
  ok(e instanceof E.BadRequestError, 'as BadRequestError');
  like(e && e.message, /has 8 dimensions/, 'saying why');
  e = await rejects(client.embeddings.create({ model: 'local:emb', input: [1, 2, 3] }), 'token ids are refused');
  ok(e instanceof E.BadRequestError && /token ids/.test(e.message), 'with a clear 400');
  e = await rejects(client.embeddings.create({ model: 'local:echo', input: 'x' }), 'a completion model does not embed');
  ok(e instanceof E.NotFoundError, 'NotFoundError');
});

test('openai_models_list', async () => {
  const { client } = await shared();
  const ids = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
    if (m.id === 'up:ok') is(m.owned_by, 'up', 'owned_by the provider');
    if (m.id === 'local:echo') is(m.object, 'model', 'object model');
  }
  is(ids, ['local:echo', 'local:emb', 'up:gpt-4o-mini', 'up:ok'], 'the local models, then each provider\'s models list');
});

test('openai_errors_sdk_types', async () => {
  const { client, gw } = await shared();
  const msg = [{ role: 'user', content: 'x' }];
  let e = await rejects(client.chat.completions.create({ model: 'local:echo', n: 2, messages: msg }), 'n: 2');
  ok(e instanceof E.BadRequestError, 'BadRequestError (400)');
  is(e && e.type, 'invalid_request_error', 'type invalid_request_error');
  like(e && e.message, /n must be 1/, 'naming the field');
  like(e && e.requestID, /^[0-9a-f]{16,}$/, 'X-Request-Id reaches the SDK as requestID');
  e = await rejects(client.chat.completions.create({ model: 'local:echo', messages: [] }), 'no messages');
  ok(e instanceof E.BadRequestError, 'BadRequestError for an empty messages');
  e = await rejects(client.chat.completions.create({ model: 'local:echo', messages: [{ role: 'wizard', content: 'x' }] }), 'unknown role');
  ok(e instanceof E.BadRequestError && /role/.test(e.message), 'BadRequestError naming the role');

  e = await rejects(new OpenAI({ baseURL: gw.url + '/v1', apiKey: 'wrong', maxRetries: 0 })
    .chat.completions.create({ model: 'local:echo', messages: msg }), 'a wrong key');
  ok(e instanceof E.AuthenticationError, 'AuthenticationError (401)');

  e = await rejects(new OpenAI({ baseURL: gw.url + '/v1', apiKey: READER, maxRetries: 0 })
    .chat.completions.create({ model: 'local:echo', messages: msg }), 'a token without llm:invoke');
  ok(e instanceof E.PermissionDeniedError, 'PermissionDeniedError (403)');
  is(e && e.type, 'permission_error', 'type permission_error');

  e = await rejects(new OpenAI({ baseURL: gw.url + '/v1', apiKey: TOKEN, maxRetries: 0,
                                 defaultHeaders: { 'X-Soul-Tenant': 'tenant-other' } })
    .chat.completions.create({ model: 'local:echo', messages: msg }), 'another tenant than the principal\'s');
  ok(e instanceof E.PermissionDeniedError, 'PermissionDeniedError: the tenant is the principal\'s');

  // OpenAI's body is the client's format: a "tenant" member in it names no soulgw tenant
  const tb = await request(gw, 'POST', '/v1/chat/completions',
    { body: { model: 'local:echo', messages: msg, tenant: 'tenant-other' } });
  is(tb.status, 200, 'a "tenant" member of the body is ignored, not a 403');

  for (const model of ['nope:gpt', 'local:nope', 'gpt-4o']) {
    e = await rejects(client.chat.completions.create({ model, messages: msg }), `unknown model ${model}`);
    ok(e instanceof E.NotFoundError, `${model}: NotFoundError (404)`);
    is(e && e.code, 'model_not_found', `${model}: code model_not_found`);
    is(e && e.type, 'not_found_error', `${model}: type not_found_error`);
  }

  const limited = new OpenAI({ baseURL: gw.url + '/v1', apiKey: SLOWPOKE, maxRetries: 0 });
  let rl;
  for (let i = 0; i < 5 && !rl; i++) {
    try { await limited.models.list(); } catch (x) { rl = x; }
  }
  ok(rl instanceof E.RateLimitError, "RateLimitError (429) from the gateway's own rate limit");
  like(rl && rl.headers && rl.headers.get('retry-after'), /^[1-9][0-9]*$/, 'with Retry-After');
  is(rl && rl.type, 'rate_limit_error', 'type rate_limit_error');

  e = await rejects(client.chat.completions.create({ model: 'local:echo', messages: [{ role: 'user', content: 'x'.repeat(70000) }] }), 'a body over max_body_bytes');
  is(e && e.status, 413, 'status 413 reaches the SDK');
  ok(e instanceof E.APIError && e.type === 'invalid_request_error', 'as an APIError of type invalid_request_error');

  const bad = await request(gw, 'POST', '/v1/chat/completions', { body: '{"model": "local:echo", ' });
  is(bad.status, 422, 'a body that is not JSON: 422');
  is(bad.json && bad.json.error && bad.json.error.type, 'invalid_request_error', 'in the OpenAI shape');
  e = await rejects(client.chat.completions.create({ model: 'local:echo', messages: 'hi' }), 'messages not an array');
  ok(e instanceof E.BadRequestError, 'BadRequestError for a field of the wrong type');
});

test('openai_errors_upstream', async () => {
  const { client, up } = await shared();
  const msg = [{ role: 'user', content: 'x' }];
  let e = await rejects(client.chat.completions.create({ model: 'up:status-500', messages: msg }), 'upstream 500');
  ok(e instanceof E.InternalServerError, 'InternalServerError (503 api_error)');
  is(e && e.status, 503, 'status 503');
  is(e && e.code, 'PROVIDER.UNAVAILABLE', 'code PROVIDER.UNAVAILABLE');
  ok(e && !e.message.includes(UPSTREAM_KEY), "the upstream's error text is not relayed");
  const n = up.requests.length;
  await rejects(client.chat.completions.create({ model: 'up2:status-502', messages: msg }), 'upstream 502 with retries = 1');
  is(up.requests.length - n, 2, 'retried once');

  e = await rejects(client.chat.completions.create({ model: 'up:status-429', messages: msg }), 'upstream 429');
  ok(e instanceof E.RateLimitError, 'RateLimitError');
  is(e && e.headers && e.headers.get('retry-after'), '7', "with the upstream's Retry-After");
  e = await rejects(client.chat.completions.create({ model: 'up:status-400', messages: msg }), 'upstream 400');
  ok(e instanceof E.BadRequestError, 'BadRequestError');
  ok(e && !e.message.includes(UPSTREAM_KEY), 'with a fixed phrase, not the upstream text');
  e = await rejects(client.chat.completions.create({ model: 'up:status-404', messages: msg }), 'upstream 404');
  ok(e instanceof E.NotFoundError && e.code === 'model_not_found', 'NotFoundError model_not_found');
  e = await rejects(client.chat.completions.create({ model: 'up:status-401', messages: msg }), 'upstream 401');
  ok(e instanceof E.InternalServerError, "the gateway's own key refused: 503, not the client's 401");
  e = await rejects(client.chat.completions.create({ model: 'up:slow', messages: msg }), 'upstream slower than timeout_ms');
  is(e && e.status, 504, 'status 504');
  is(e && e.code, 'LLM.TIMEOUT', 'code LLM.TIMEOUT');
  e = await rejects(client.chat.completions.create({ model: 'up:garbage', messages: msg }), 'upstream garbage');
  is(e && e.status, 503, 'a 200 that is not a chat completion: 503');
  e = await rejects(client.chat.completions.create({ model: 'up:status-429', stream: true, messages: msg }), 'a stream refused before its first byte');
  ok(e instanceof E.RateLimitError, 'is an HTTP error, RateLimitError');
});

test('openai_chat_stream_gateway_stop', async () => {
  const up = await startMockOpenAI();
  const gw = await startGateway(toml(up).replace('drain_timeout_s = 5', 'drain_timeout_s = 1')
    .replace('timeout_ms = 1000\nretries = 0', 'timeout_ms = 30000\nretries = 0'));
  try {
    const r = await fetch(gw.url + '/v1/chat/completions', { method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'up:stall', stream: true, messages: [{ role: 'user', content: 'x' }] }) });
    is(r.status, 200, 'the stream opened');
    const reader = r.body.getReader();
    let text = '';
    const dec = new TextDecoder();
    while (!text.includes('one ')) {
      const { value, done: end } = await reader.read();
      if (end) break;
      text += dec.decode(value);
    }
    ok(text.includes('one '), 'the first piece arrived');
    gw.child.kill('SIGTERM'); // the gateway stops with the stream open
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      text += dec.decode(value);
    }
    const events = text.split('\n\n').filter((x) => x);
    like(events[events.length - 1], /^data: \{"error":\{"message":"the gateway is shutting down"/, 'a stopping gateway ends the stream with an error event');
    ok(!text.includes('[DONE]'), 'and no [DONE]');
  } finally {
    await gw.stop();
    await up.close();
  }
});

test(`openai_shared_stop ${process.env.SOULGW_TEST_FILTER || ''}`, async () => {
  if (!fixture) return;
  await fixture.gw.stop();
  await fixture.up.close();
  fixture = undefined;
});

await done();
