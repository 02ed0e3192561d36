// The Node.js baseline for bench/vs_node.py: POST /v2/models/{m}/infer (KServe v2 JSON) on
// onnxruntime-node, written the way a typical user would write it: node's http module, buffer
// the body, JSON.parse, build an ort.Tensor per input, await session.run, JSON.stringify the
// outputs. One process, one event loop (no cluster), like the single `continuum serve` process it
// is compared with.
//
// GET /v2, /v2/models/{m} and /v2/models/{m}/config answer what perf_analyzer reads before it sends
// (bench/peers/ drives this server with it, JSON requests: binary tensors are not spoken here).
//
// Usage: node server.js --model-repository DIR [--port 0] [--intra-op-threads 1] MODEL...
// Loads DIR/MODEL/1/model.onnx for each MODEL and prints "listening on port N" once listening.
'use strict';
const http = require('http');
const path = require('path');
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
let repo = null, port = 0, intraOp = 1;
const models = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--model-repository') repo = args[++i];
  else if (args[i] === '--port') port = Number(args[++i]);
  else if (args[i] === '--intra-op-threads') intraOp = Number(args[++i]);
  else models.push(args[i]);
}
if (!repo || models.length === 0) {
  console.error('usage: node server.js --model-repository DIR [--port N] [--intra-op-threads K] MODEL...');
  process.exit(2);
}

const TYPES = {
  FP32: ['float32', Float32Array], FP64: ['float64', Float64Array],
  INT32: ['int32', Int32Array], INT64: ['int64', BigInt64Array],
};
const DATATYPE = { float32: 'FP32', float64: 'FP64', int32: 'INT32', int64: 'INT64' };

const sessions = {};

// GET /v2/models/{m} (v2 metadata) and GET /v2/models/{m}/config (Triton's configuration, which
// perf_analyzer reads first: as Triton's auto-complete would, a first dimension of any size on
// every tensor makes the model batchable and is left out of the dims).
function tensors(list) {
  return list.map((t) => ({
    name: t.name, datatype: DATATYPE[t.type] || t.type,
    shape: t.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  }));
}
function modelMetadata(name, session) {
  return { name, versions: ['1'], platform: 'onnxruntime_onnx',
    inputs: tensors(session.inputMetadata), outputs: tensors(session.outputMetadata) };
}
function modelConfig(name, session) {
  const ins = tensors(session.inputMetadata), outs = tensors(session.outputMetadata);
  const batchable = [...ins, ...outs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  const dims = (list) => list.map((t) => ({
    name: t.name, data_type: 'TYPE_' + t.datatype, dims: batchable ? t.shape.slice(1) : t.shape,
  }));
  return { name, platform: 'onnxruntime_onnx', max_batch_size: batchable ? 8 : 0,
    input: dims(ins), output: dims(outs) };
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function infer(session, req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    return send(res, 400, { error: 'invalid JSON: ' + e.message });
  }
  const feeds = {};
  for (const input of body.inputs || []) {
    const t = TYPES[input.datatype];
    if (!t) return send(res, 400, { error: 'unsupported datatype ' + input.datatype });
    const flat = input.data.flat(Infinity);
    const data = t[1] === BigInt64Array ? BigInt64Array.from(flat, BigInt) : t[1].from(flat);
    feeds[input.name] = new ort.Tensor(t[0], data, input.shape);
  }
  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    return send(res, 400, { error: e.message });
  }
  const outputs = Object.entries(results).map(([name, t]) => ({
    name,
    datatype: DATATYPE[t.type] || t.type,
    shape: t.dims,
    data: t.type === 'int64' ? Array.from(t.data, Number) : Array.from(t.data),
  }));
  send(res, 200, { model_name: body.model_name, id: body.id, outputs });
}

const server = http.createServer((req, res) => {
  const m = req.url.match(/^\/v2\/models\/([^/]+)(?:\/versions\/\d+)?\/infer$/);
  if (req.method === 'POST' && m) {
    const session = sessions[m[1]];
    if (!session) return send(res, 404, { error: 'unknown model ' + m[1] });
    infer(session, req, res).catch((e) => send(res, 500, { error: String(e) }));
    return;
  }
  const meta = req.url.match(/^\/v2\/models\/([^/]+)(?:\/versions\/\d+)?(\/config)?$/);
  if (req.method === 'GET' && meta) {
    const session = sessions[meta[1]];
    if (!session) return send(res, 404, { error: 'unknown model ' + meta[1] });
    return send(res, 200, meta[2] ? modelConfig(meta[1], session) : modelMetadata(meta[1], session));
  }
  if (req.method === 'GET' && req.url === '/v2') {
    return send(res, 200, { name: 'node-onnxruntime', version: ort.env.versions.node, extensions: [] });
  }
  if (req.method === 'GET' && (req.url === '/v2/health/ready' || req.url === '/v2/health/live')) {
    return send(res, 200, { ready: true });
  }
  send(res, 404, { error: 'not found' });
});
server.keepAliveTimeout = 60000;

(async () => {
  for (const m of models) {
    sessions[m] = await ort.InferenceSession.create(path.join(repo, m, '1', 'model.onnx'), {
      intraOpNumThreads: intraOp, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  }
  server.listen(port, '127.0.0.1', () => {
    console.log('node server: listening on port ' + server.address().port);
  });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
