// mock_openai.mjs -- an OpenAI-compatible upstream for the node tests of /v1 (and anything
// else that calls an "openai" provider), on node:http.  It records every request it gets and
// behaves according to the model it is asked for, so that one mock serves every case:
//
//   ok            a chat.completion (with tool_calls when the request has tools) and usage
//   stream        an event stream: a role chunk, three content pieces, a finish chunk, the
//                 usage chunk when stream_options.include_usage, then [DONE]
//   cut           a stream that sends two content chunks, then destroys the connection
//   nodone        a stream that sends two content chunks, then ends cleanly, without a
//                 finish_reason nor [DONE]
//   errevent      a stream that sends one chunk, then an error event quoting the key
//   garbage       200 with a body that is not JSON (stream: an event that is not JSON)
//   slow          answers after 3 s (past the provider timeouts the tests set)
//   stall         a stream that sends one content chunk, then nothing until the connection
//                 closes
//   status-NNN    answers NNN with an OpenAI error body that quotes the key (429 with
//                 Retry-After: 7)
//
//   const up = await startMockOpenAI();
//   ... base_url = up.url + '/v1' ...
//   up.requests   // [{ method, path, headers, body (text), json }]
//   await up.close();

import { createServer } from 'node:http';

export const UPSTREAM_KEY = 'sk-mock-upstream-key-0123456789';

function completion(model, req) {
  const tools = Array.isArray(req.tools) && req.tools.length > 0;
  const message = tools
    ? { role: 'assistant', content: null,
        tool_calls: [{ id: 'call_1', type: 'function',
                       function: { name: req.tools[0].function.name, arguments: '{"city":"Paris"}' } }] }
    : { role: 'assistant', content: 'mock says hello', refusal: null };
  return {
    id: 'chatcmpl-upstream', object: 'chat.completion', created: 1700000000, model,
    system_fingerprint: 'fp_mock', service_tier: 'default',
    choices: [{ index: 0, message, logprobs: null, finish_reason: tools ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  };
}

function chunk(model, delta, finish = null) {
  return { id: 'chatcmpl-upstream', object: 'chat.completion.chunk', created: 1700000000, model,
           system_fingerprint: 'fp_mock',
           choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
}

function sse(res, obj) {
  res.write(`data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`);
}

function streamAnswer(res, model, req, mode) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (mode === 'garbage') {
    sse(res, chunk(model, { role: 'assistant', content: '' }));
    sse(res, '{not json');
    res.end();
    return;
  }
  sse(res, chunk(model, { role: 'assistant', content: '' }));
  sse(res, chunk(model, { content: 'one ' }));
  if (mode === 'errevent') {
    sse(res, { error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}`, type: 'server_error' } });
    res.end();
    return;
  }
  if (mode === 'stall') return;
  sse(res, chunk(model, { content: 'two ' }));
  if (mode === 'cut') {
    setTimeout(() => res.socket.destroy(), 50);
    return;
  }
  if (mode === 'nodone') {
    res.end();
    return;
  }
  sse(res, chunk(model, { content: 'three' }));
  sse(res, chunk(model, {}, 'stop'));
  if (req.stream_options && req.stream_options.include_usage) {
    sse(res, { id: 'chatcmpl-upstream', object: 'chat.completion.chunk', created: 1700000000, model,
               choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } });
  }
  sse(res, '[DONE]');
  res.end();
}

function refuse(res, status) {
  const h = { 'content-type': 'application/json' };
  if (status === 429) h['retry-after'] = '7';
  res.writeHead(status, h);
  res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}`,
                                    type: 'invalid_request_error', param: null, code: 'mock' } }));
}

function embeddings(res, req) {
  const input = Array.isArray(req.input) ? req.input : [req.input];
  const dim = req.dimensions || 4;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({
    object: 'list', model: req.model,
    data: input.map((t, i) => ({ object: 'embedding', index: i,
                                 embedding: Array.from({ length: dim }, (_, k) => (k + 1) / 8 + i) })),
    usage: { prompt_tokens: input.length * 2, total_tokens: input.length * 2 },
  }));
}

export async function startMockOpenAI() {
  const requests = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let json;
      try { json = JSON.parse(body); } catch { json = undefined; }
      requests.push({ method: req.method, path: req.url, headers: req.headers, body, json });
      if (!json) return refuse(res, 400);
      const model = String(json.model || '');
      if (req.url.endsWith('/embeddings')) return embeddings(res, json);
      const st = /^status-(\d{3})$/.exec(model);
      if (st) return refuse(res, Number(st[1]));
      if (model === 'slow') {
        setTimeout(() => { if (!res.destroyed) { res.writeHead(200); res.end(JSON.stringify(completion(model, json))); } }, 3000);
        return;
      }
      if (model === 'garbage' && !json.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('this is {not json');
        return;
      }
      if (json.stream) return streamAnswer(res, model, json, model);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion(model, json)));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url, requests,
    last(path) { return [...requests].reverse().find((r) => !path || r.path.endsWith(path)); },
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}
