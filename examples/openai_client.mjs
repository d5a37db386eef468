// openai_client.mjs -- the official OpenAI SDK pointed at soulgw, as any existing client would
// be: a chat completion, a stream, embeddings, the model list, and a refused key.
//
//   npm install openai
//   SOULGW_URL=http://127.0.0.1:8080 GATEWAY_TOKEN_LOCAL=dev-token node openai_client.mjs
//
// The API key is a soulgw credential (any configured bearer token); `local:echo` and
// `local:emb` are built in, and an [llm.providers.NAME] of kind "openai" is reached as
// "NAME:MODEL" with the request relayed as it is.
import OpenAI from 'openai';

const baseURL = `${process.env.SOULGW_URL || 'http://127.0.0.1:8080'}/v1`;
const client = new OpenAI({ baseURL, apiKey: process.env.GATEWAY_TOKEN_LOCAL || 'dev-token' });

const chat = await client.chat.completions.create({
  model: 'local:echo',
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello gateway' }],
});
console.log(`chat: ${chat.choices[0].message.content} (${chat.usage.total_tokens} tokens)`);

let streamed = '';
const stream = await client.chat.completions.create({
  model: 'local:echo', stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'one two three' }],
});
for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
console.log(`stream: ${streamed}`);

const emb = await client.embeddings.create({ model: 'local:emb', input: ['a', 'b'] });
console.log(`embeddings: ${emb.data.length} x ${emb.data[0].embedding.length}`);

const models = [];
for await (const m of client.models.list()) models.push(m.id);
console.log(`models: ${models.join(' ')}`);

try {
  await new OpenAI({ baseURL, apiKey: 'not-a-token', maxRetries: 0 }).models.list();
} catch (e) {
  console.log(`wrong key: ${e.status} ${e.constructor.name} ${e.code}`);
}
