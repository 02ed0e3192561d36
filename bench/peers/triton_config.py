"""The model configuration perf_analyzer reads (Triton's model-configuration extension,
GET /v2/models/{model}/config) for the peers that do not have it (KServe, MLServer, bench/node).

As Triton's auto-complete would: a model whose every input and output has a first dimension of
any size (-1) is batchable, and its dims leave that dimension out; otherwise max_batch_size is 0
and the dims are the shapes. perf_analyzer then sends batch-1 requests of the declared shapes.
Pure Python: each peer's venv imports it beside its server.
"""
CONFIG_TYPES = {"BOOL": "TYPE_BOOL", "UINT8": "TYPE_UINT8", "INT8": "TYPE_INT8", "INT32": "TYPE_INT32",
                "INT64": "TYPE_INT64", "FP16": "TYPE_FP16", "FP32": "TYPE_FP32", "FP64": "TYPE_FP64",
                "BYTES": "TYPE_STRING"}
MAX_BATCH_SIZE = 8


def model_config(name, inputs, outputs):
    """inputs, outputs: lists of (name, v2 datatype, shape with -1 for a free dimension)."""
    tensors = list(inputs) + list(outputs)
    batchable = all(shape and shape[0] == -1 for _, _, shape in tensors)

    def dims(items):
        return [{"name": n, "data_type": CONFIG_TYPES.get(t, "TYPE_INVALID"),
                 "dims": list(shape[1:] if batchable else shape)} for n, t, shape in items]
    return {"name": name, "platform": "onnxruntime_onnx", "max_batch_size": MAX_BATCH_SIZE if batchable else 0,
            "input": dims(inputs), "output": dims(outputs)}
