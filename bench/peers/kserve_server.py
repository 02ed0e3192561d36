"""The KServe peer: KServe's Python model server with a custom predictor on ONNX Runtime.

Written the way KServe documents a custom predictor ("Deploy Custom Python Serving Runtime with
InferenceService"): a kserve.Model subclass whose load() opens the model and whose predict()
takes the v2 InferRequest, runs it and returns an InferResponse; kserve.ModelServer serves it
over the v2 REST protocol and the v2 gRPC protocol. One worker process, one ORT session per model
with the same thread settings as the other servers in the comparison.

perf_analyzer reads a model's configuration (Triton's model-configuration extension) before it
sends anything; KServe has no such endpoint, so GET /v2/models/{model}/config is added to KServe's
FastAPI application (kserve.model_server.app) before the server starts. It answers what
perf_analyzer needs (triton_config.py) and is never on the
inference path. KServe's gRPC service has no ModelConfig method either, so perf_analyzer cannot
drive it over gRPC.

Usage (in the venv tools/peers.sh makes): python kserve_server.py --model-repository DIR
  --http-port N --grpc-port M [--intra-op-threads 1] MODEL...   (loads DIR/MODEL/1/model.onnx)
"""
import argparse
import os

import kserve
from kserve.utils.utils import generate_uuid
import onnxruntime as ort
from fastapi.responses import JSONResponse
from triton_config import model_config
from kserve import InferOutput, InferRequest, InferResponse, model_server

DATATYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int32)": "INT32",
             "tensor(int64)": "INT64", "tensor(bool)": "BOOL", "tensor(string)": "BYTES"}


class OnnxModel(kserve.Model):
    def __init__(self, name, path, intra_op_threads):
        super().__init__(name)
        self.path = path
        self.intra_op_threads = intra_op_threads
        self.session = None
        self.load()

    def load(self):
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.output_types = {o["name"]: o["datatype"] for o in self.get_output_types()}
        self.ready = True
        return self.ready

    @staticmethod
    def _types(args):
        return [{"name": a.name, "datatype": DATATYPES.get(a.type, a.type),
                 "shape": [d if isinstance(d, int) else -1 for d in a.shape]} for a in args]

    def get_input_types(self):
        return self._types(self.session.get_inputs())

    def get_output_types(self):
        return self._types(self.session.get_outputs())

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        names = [o.name for o in self.session.get_outputs()]
        results = self.session.run(names, feeds)
        outputs = []
        for name, value in zip(names, results):
            out = InferOutput(name=name, shape=list(value.shape), datatype=self.output_types[name])
            out.set_data_from_numpy(value)
            outputs.append(out)
        # As the client asked: binary outputs (the v2 binary tensor extension) or JSON.
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name, infer_outputs=outputs,
                             use_binary_outputs=payload.use_binary_outputs, requested_outputs=payload.request_outputs)


def add_config_route(models):
    def specs(tensors):
        return [(t["name"], t["datatype"], t["shape"]) for t in tensors]
    configs = {m.name: model_config(m.name, specs(m.get_input_types()), specs(m.get_output_types())) for m in models}

    async def config(model_name: str):
        if model_name not in configs:
            return JSONResponse({"error": "unknown model " + model_name}, status_code=404)
        return configs[model_name]
    model_server.app.add_api_route("/v2/models/{model_name}/config", config, methods=["GET"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model-repository", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--intra-op-threads", type=int, default=1)
    p.add_argument("models", nargs="+")
    a = p.parse_args()
    models = [OnnxModel(m, os.path.join(a.model_repository, m, "1", "model.onnx"), a.intra_op_threads)
              for m in a.models]
    add_config_route(models)
    kserve.ModelServer(http_port=a.http_port, grpc_port=a.grpc_port, workers=1,
                       enable_latency_logging=False).start(models)


if __name__ == "__main__":
    main()
