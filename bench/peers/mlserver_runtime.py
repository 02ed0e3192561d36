"""The MLServer peer: a custom MLServer runtime running the model on ONNX Runtime.

MLServer ships no ONNX runtime, so this is written the way MLServer documents a custom inference
runtime ("Custom Inference Runtimes"): an mlserver.MLModel subclass whose load() opens the model
named by its model-settings.json and whose predict() decodes the v2 InferenceRequest with the
NumpyCodec, runs it and encodes the InferenceResponse. `mlserver start DIR` serves it over v2
REST and gRPC with its default settings otherwise (bench/peers/run.py writes DIR: settings.json
with the ports, one model-settings.json per model naming this class).

perf_analyzer reads a model's configuration (Triton's model-configuration extension) before
it sends anything; MLServer has no such endpoint, so the runtime adds GET
/v2/models/{model}/config as a custom handler (MLServer's documented custom endpoints). It answers what
perf_analyzer needs (triton_config.py) and is never on the
inference path.
"""
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.handlers.custom import CustomHandler, register_custom_handler
from mlserver.types import InferenceRequest, InferenceResponse, MetadataTensor, ResponseOutput
from mlserver.utils import get_model_uri
from triton_config import model_config

DATATYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int32)": "INT32",
             "tensor(int64)": "INT64", "tensor(bool)": "BOOL", "tensor(string)": "BYTES"}

def _metadata(args):
    return [MetadataTensor(name=a.name, datatype=DATATYPES.get(a.type, a.type),
                           shape=[d if isinstance(d, int) else -1 for d in a.shape]) for a in args]


class OnnxRuntime(MLModel):
    def __init__(self, settings):
        super().__init__(settings)
        self._config = {"error": "model %s is loading" % settings.name}

        async def answer_config() -> dict:
            return self._config
        # The decorator's path is fixed when the class is written, and each model needs its own
        # (MLServer imports the runtime's module once per model: they share no state), so the
        # handler is registered here as the decorator does; MLServer picks it up from the model's
        # members before it calls load().
        register_custom_handler(CustomHandler(rest_path="/v2/models/%s/config" % settings.name, rest_method="GET"),
                                answer_config)
        self.answer_config = answer_config

    async def load(self) -> bool:
        options = ort.SessionOptions()
        extra = self.settings.parameters.extra if self.settings.parameters else None
        options.intra_op_num_threads = int((extra or {}).get("intra_op_threads", 1))
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(await get_model_uri(self.settings), options,
                                             providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.inputs = _metadata(self._session.get_inputs())
        self.outputs = _metadata(self._session.get_outputs())
        self._datatypes = {t.name: t.datatype for t in self.outputs}
        self._config = model_config(self.name, *[[(t.name, t.datatype, t.shape) for t in ts]
                                                 for ts in (self.inputs, self.outputs)])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        results = self._session.run(self._outputs, feeds)
        # ResponseOutput built by hand rather than with NumpyCodec.encode_output: the codec tags each
        # output with parameters {"content_type": "np"}, and Triton's HTTP client (perf_analyzer)
        # takes an output's parameters to mean binary data and then fails on the missing
        # binary_data_size.
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=[
            ResponseOutput(name=n, shape=list(v.shape), datatype=self._datatypes[n], data=v.ravel().tolist())
            for n, v in zip(self._outputs, results)])

