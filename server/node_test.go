package server

import (
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// The official OpenAI client (npm openai) against the server: each step
// checks what came back, not only that a call succeeded.
const openaiScript = `
import OpenAI from 'openai';
const [base, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0 });
const fail = (msg) => { console.error(msg); process.exit(1); };
const models = await client.models.list();
if (!models.data.some((m) => m.id === 'stories')) fail('models: ' + JSON.stringify(models.data));

const msgs = [{ role: 'user', content: 'Once upon a time' }];
const plain = await client.chat.completions.create({ model: 'stories', messages: msgs, max_tokens: 20, temperature: 0 });
const text = plain.choices[0].message.content;
if (!text || plain.usage.completion_tokens < 1) fail('chat: ' + JSON.stringify(plain));

const stream = await client.chat.completions.create({ model: 'stories', messages: msgs, max_tokens: 20, temperature: 0,
  stream: true, stream_options: { include_usage: true } });
let streamed = '', usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) streamed += c.delta?.content ?? '';
}
if (streamed !== text) fail('streamed ' + JSON.stringify(streamed) + ' vs ' + JSON.stringify(text));
if (!usage || usage.completion_tokens !== plain.usage.completion_tokens) fail('usage: ' + JSON.stringify(usage));

const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false } } }];
const forced = { type: 'function', function: { name: 'get_weather' } };
const call = await client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'Weather in Paris?' }],
  tools, tool_choice: forced, max_tokens: 64 });
const tc = call.choices[0].message.tool_calls?.[0];
if (!tc || tc.function.name !== 'get_weather' || typeof JSON.parse(tc.function.arguments).city !== 'string' || call.choices[0].finish_reason !== 'tool_calls')
  fail('tool call: ' + JSON.stringify(call));

// The SDK's stream helper assembles tool-call deltas into a final message.
const runner = client.chat.completions.stream({ model: 'stories', messages: [{ role: 'user', content: 'Weather in Paris?' }],
  tools, tool_choice: forced, max_tokens: 64 });
let deltas = 0;
runner.on('chunk', (c) => { if (c.choices[0]?.delta?.tool_calls) deltas++; });
const fin = await runner.finalChatCompletion();
const stc = fin.choices[0].message.tool_calls?.[0];
if (deltas < 1 || !stc || stc.function.name !== 'get_weather' || stc.function.arguments !== tc.function.arguments)
  fail('streamed tool call: ' + deltas + ' ' + JSON.stringify(fin));

const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
  required: ['name', 'age'], additionalProperties: false };
const structured = await client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'A person' }], max_tokens: 64,
  response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } } });
const person = JSON.parse(structured.choices[0].message.content);
if (typeof person.name !== 'string' || person.name.length > 10 || !Number.isInteger(person.age) || person.age < 0 || person.age > 120)
  fail('json_schema: ' + structured.choices[0].message.content);

// The SDK asks for base64 and decodes it.
const emb = await client.embeddings.create({ model: 'stories', input: ['a cat', 'a dog'] });
if (emb.data.length !== 2 || emb.data[0].embedding.length < 8) fail('embeddings: ' + JSON.stringify(emb).slice(0, 200));
const norm = emb.data[0].embedding.reduce((s, x) => s + x * x, 0);
if (Math.abs(norm - 1) > 1e-3) fail('embedding norm² ' + norm);

try {
  await client.chat.completions.create({ model: 'stories', messages: msgs, max_tokens: 1000000 });
  fail('max_tokens over the cap was accepted');
} catch (e) {
  if (e.status !== 400 || !String(e.message).includes('cap')) fail('over cap: ' + e);
}
console.log('ok');
`

// The official Ollama client (npm ollama) against the server.
const ollamaScript = `
import { Ollama } from 'ollama';
const [base, key] = process.argv.slice(2);
const ollama = new Ollama({ host: base, headers: { Authorization: 'Bearer ' + key } });
const fail = (msg) => { console.error(msg); process.exit(1); };
const tags = await ollama.list();
if (!tags.models.some((m) => m.name === 'stories' && m.details.family === 'llama')) fail('tags: ' + JSON.stringify(tags));
const show = await ollama.show({ model: 'stories' });
if (!show.template.includes('<|im_start|>') || show.model_info['llama.context_length'] !== 2048) fail('show: ' + JSON.stringify(show).slice(0, 300));

const msgs = [{ role: 'user', content: 'Once upon a time' }];
const plain = await ollama.chat({ model: 'stories', messages: msgs, options: { temperature: 0, num_predict: 16 } });
if (!plain.done || !plain.message.content || plain.eval_count !== 16) fail('chat: ' + JSON.stringify(plain));
let streamed = '', last = null;
for await (const part of await ollama.chat({ model: 'stories', messages: msgs, stream: true, options: { temperature: 0, num_predict: 16 } })) {
  streamed += part.message.content; last = part;
}
if (streamed !== plain.message.content || !last.done) fail('streamed ' + JSON.stringify(streamed) + ' vs ' + JSON.stringify(plain.message.content));

const gen = await ollama.generate({ model: 'stories', prompt: 'Once upon a time', raw: true, options: { temperature: 0, num_predict: 8 } });
if (!gen.response || gen.done_reason !== 'length') fail('generate: ' + JSON.stringify(gen));

const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 10 } }, required: ['name'], additionalProperties: false };
const fmt = await ollama.chat({ model: 'stories', messages: [{ role: 'user', content: 'A name' }], format: schema, options: { num_predict: 64 } });
if (typeof JSON.parse(fmt.message.content).name !== 'string') fail('format: ' + fmt.message.content);

const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } }];
const tc = await ollama.chat({ model: 'stories', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, options: { num_predict: 64 } });
const calls = tc.message.tool_calls ?? [];
if (calls.length === 0 && !tc.message.content) fail('tools: neither a call nor an answer: ' + JSON.stringify(tc));
if (calls.length > 0 && (calls[0].function.name !== 'get_weather' || typeof calls[0].function.arguments.city !== 'string')) fail('tool call: ' + JSON.stringify(calls));

const emb = await ollama.embed({ model: 'stories', input: ['a cat', 'a dog'] });
if (emb.embeddings.length !== 2 || emb.embeddings[0].length < 8) fail('embed: ' + JSON.stringify(emb).slice(0, 200));

try {
  await ollama.chat({ model: 'stories', messages: [{ role: 'user', content: 'the cat sat on the mat. '.repeat(60) }], options: { num_ctx: 96 } });
  fail('an over-long prompt was accepted');
} catch (e) {
  if (e.status_code !== 400 || !String(e.error).includes('context holds 96')) fail('num_ctx: ' + e);
}
const ps = await ollama.ps();
if (!ps.models.some((m) => m.name === 'stories')) fail('ps: ' + JSON.stringify(ps));
console.log('ok');
`

func TestOpenAIClient(t *testing.T) {
	f := newFixture(t, Config{MaxTokens: 512, APIKey: "k1"})
	out := testtool.RunNode(t, openaiScript, 2*time.Minute, nil, f.hs.URL, "k1")
	if strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("%s", out)
	}
}

func TestOllamaClient(t *testing.T) {
	f := newFixture(t, Config{APIKey: "k2"})
	out := testtool.RunNode(t, ollamaScript, 2*time.Minute, nil, f.hs.URL, "k2")
	if strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("%s", out)
	}
}
