// Drives continuum's Workers AI routes with the official cloudflare npm client, unchanged:
// ai.models.list (GET /accounts/{account}/ai/models/search, paged) and ai.run.
// Usage: node workers_ai.mjs BASE_URL ACCOUNT MODEL   (BASE_URL like http://127.0.0.1:PORT)
// MODEL is a text-embeddings catalog entry. Prints one JSON object with what it saw; exits 1 on
// a failed check.
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';

const [, , baseURL, account_id, model] = process.argv;
const client = new Cloudflare({ apiToken: 'not-needed', baseURL, maxRetries: 0, timeout: 30000 });

// Every model, two per page: the client follows the pages until one comes back empty.
const names = [];
for await (const m of client.ai.models.list({ account_id, per_page: 2 })) {
  assert.equal(typeof m.id, 'string');
  assert.equal(typeof m.description, 'string');
  assert.equal(typeof m.task.name, 'string');
  assert.ok(Array.isArray(m.properties));
  names.push(m.name);
}
assert.ok(names.includes(model), `model list lacks ${model}: ${names}`);
assert.equal(new Set(names).size, names.length, `a model listed twice: ${names}`);

// One page, filtered by Workers AI's task name.
const page = await client.ai.models.list({ account_id, task: 'Text Embeddings' });
const embedders = page.result.map((m) => m.name);
assert.ok(embedders.includes(model), `task filter lost ${model}: ${embedders}`);
for (const m of page.result) assert.equal(m.task.name, 'Text Embeddings');
assert.equal(page.result_info.total_count, embedders.length);
assert.ok(embedders.length < names.length, 'the task filter kept every model');

// ai.run against the same node.
const out = await client.ai.run(model, { account_id, text: ['hello world', 'edge and cloud'] });
assert.equal(out.shape[0], 2);
assert.equal(out.data.length, 2);
assert.ok(out.data[0].length > 0);

// A bad parameter is the client's error (400), not a crash or an empty list.
let status = 0;
try {
  await client.ai.models.list({ account_id, per_page: 0 });
} catch (e) {
  status = e.status;
}
assert.equal(status, 400);

console.log(JSON.stringify({ models: names, embedders, dim: out.data[0].length, ok: true }));
