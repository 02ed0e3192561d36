// Drives continuum's /v1 routes with the official openai npm client, unchanged.
// Usage: node embeddings.mjs BASE_URL MODEL   (BASE_URL like http://127.0.0.1:PORT/v1)
// Prints one JSON object with what it saw; exits 1 on a failed check.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [, , baseURL, model] = process.argv;
const client = new OpenAI({ apiKey: 'not-needed', baseURL, maxRetries: 0, timeout: 30000 });

// The client asks for base64 by default and decodes it itself.
const one = await client.embeddings.create({ model, input: 'hello world' });
assert.equal(one.object, 'list');
assert.equal(one.data.length, 1);
assert.equal(one.data[0].index, 0);
const dim = one.data[0].embedding.length;
assert.ok(dim > 0);
const norm = Math.sqrt(one.data[0].embedding.reduce((s, x) => s + x * x, 0));
assert.ok(Math.abs(norm - 1) < 1e-3, `not L2-normalized: ${norm}`);
assert.ok(one.usage.prompt_tokens > 0);

const many = await client.embeddings.create({ model, input: ['hello world', 'edge and cloud'], encoding_format: 'float' });
assert.equal(many.data.length, 2);
for (let i = 0; i < dim; i++) assert.ok(Math.abs(many.data[0].embedding[i] - one.data[0].embedding[i]) < 1e-5);

const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
assert.ok(ids.includes(model), `model list lacks ${model}: ${ids}`);

let status = 0;
try {
  await client.embeddings.create({ model: 'no-such-model', input: 'x' });
} catch (e) {
  status = e.status;
}
assert.equal(status, 404);

console.log(JSON.stringify({ dim, tokens: one.usage.prompt_tokens, models: ids, ok: true }));
