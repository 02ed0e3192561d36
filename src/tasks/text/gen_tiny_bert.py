#!/usr/bin/python3
"""Writes tiny BERT-like Hugging Face ONNX export folders for the text tasks' tests and demos.

Usage:
  /usr/bin/python3 src/tasks/text/gen_tiny_bert.py OUT_DIR          the tiny folders
  /usr/bin/python3 src/tasks/text/gen_tiny_bert.py --bench OUT_DIR  a larger encoder for benchmarks

Needs Debian's python3-onnx (1.12) and python3-numpy, hence /usr/bin/python3. Deterministic
(fixed seeds); files are rewritten only when their bytes change.

Folders (each as `optimum-cli export onnx` lays them out):
  tiny-bert-embeddings/  model.onnx: input_ids, attention_mask, token_type_ids [batch, sequence]
                         int64 -> last_hidden_state [batch, sequence, 32]; vocab.txt,
                         tokenizer.json (the same vocabulary, BertNormalizer + WordPiece),
                         config.json (BertModel, max_position_embeddings 64),
                         tokenizer_config.json
  tiny-bert-sentiment/   the same encoder plus a head -> logits [batch, 2]; config.json
                         (BertForSequenceClassification, id2label NEGATIVE/POSITIVE)
  bench-bert-embeddings/ (--bench) hidden 256, 4 layers, intermediate 1024, 128 positions

The encoder: word + position + token type embeddings, LayerNorm, then per layer single-head
self-attention masked by attention_mask (additive -10000 bias), residual + LayerNorm, a ReLU
feed-forward, residual + LayerNorm. Padding never changes the outputs of real tokens.
The weights are random (seeded), except that the first dimension of each word embedding holds
a sentiment lexicon (+1 positive words, -1 negative ones): the classifier's logits are mostly
the masked mean of that dimension, so "a great movie" reads POSITIVE. A toy, not a model.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
POSITIVE = ["good", "great", "love", "loved", "excellent", "wonderful", "happy", "best", "fun"]
NEGATIVE = ["bad", "terrible", "hate", "awful", "boring", "worst", "sad", "poor"]
WORDS = ["the", "is", "this", "that", "movie", "film", "was", "it", "not", "very", "and", "of",
         "to", "in", "cafe", "hello", "world", "un", "##aff", "##able", "play", "##ing", "##ed",
         "##s", "want", "i", "you", "we", "they", "book", "food", "day", "story", "actor"]
CJK = ["中", "国", "人", "我", "你", "好"]


def vocab():
    toks = SPECIALS + PUNCT + [str(d) for d in range(10)] + [chr(c) for c in range(97, 123)]
    toks += ["##" + chr(c) for c in range(97, 123)] + ["##" + str(d) for d in range(10)]
    toks += [w for w in POSITIVE + NEGATIVE + WORDS if w not in toks] + CJK
    return toks


def tokenizer_json(toks):
    ids = {t: i for i, t in enumerate(toks)}
    special = lambda t: {"id": ids[t], "content": t, "single_word": False, "lstrip": False,
                         "rstrip": False, "normalized": False, "special": True}
    tmpl = lambda t: {"id": t, "ids": [ids[t]], "tokens": [t]}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(t) for t in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: tmpl(t) for t in ["[CLS]", "[SEP]"]},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


def build_model(toks, hidden, layers, inter, positions, classifier, seed):
    rng = np.random.default_rng(seed)
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    inits, nodes = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def dense(x, n_in, n_out, name):
        w = const(name + ".w", f32(rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out))))
        b = const(name + ".b", f32(rng.normal(0, 0.02, n_out)))
        return node("Add", [node("MatMul", [x, w], name + ".mm"), b], name)

    def layer_norm(x, name):
        g = const(name + ".g", f32(1 + rng.normal(0, 0.05, hidden)))
        b = const(name + ".b", f32(rng.normal(0, 0.05, hidden)))
        return node("LayerNormalization", [x, g, b], name, axis=-1, epsilon=1e-12)

    word_w = f32(rng.normal(0, 0.5, (len(toks), hidden)))
    word_w[:, 0] = 0
    for t in POSITIVE:
        word_w[toks.index(t), 0] = 1
    for t in NEGATIVE:
        word_w[toks.index(t), 0] = -1
    word = node("Gather", [const("word_embeddings", word_w), "input_ids"], "word")
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq = node("Gather", [shape, const("one", np.array(1, np.int64))], "seq_len")
    pos_ids = node("Range", [const("zero", np.array(0, np.int64)), seq, "one"], "pos_ids")
    pos = node("Gather", [const("position_embeddings", f32(rng.normal(0, 0.5, (positions, hidden)))), pos_ids], "pos")
    typ = node("Gather", [const("token_type_embeddings", f32(rng.normal(0, 0.5, (2, hidden)))), "token_type_ids"],
               "typ")
    x = layer_norm(node("Add", [node("Add", [word, pos], "word_pos"), typ], "emb_sum"), "emb_ln")

    maskf = node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    neg = node("Mul", [node("Sub", [const("f_one", f32(1)), maskf], "inv_mask"), const("big", f32(-10000))], "neg")
    bias = node("Unsqueeze", [neg, const("axis1", np.array([1], np.int64))], "attn_bias")
    scale = const("scale", f32(1 / np.sqrt(hidden)))
    for l in range(layers):
        p = "layer%d" % l
        q, k, v = (dense(x, hidden, hidden, p + "." + n) for n in ("q", "k", "v"))
        kt = node("Transpose", [k], p + ".kt", perm=[0, 2, 1])
        scores = node("Add", [node("Mul", [node("MatMul", [q, kt], p + ".qk"), scale], p + ".scaled"), bias],
                      p + ".scores")
        probs = node("Softmax", [scores], p + ".probs", axis=-1)
        attn = dense(node("MatMul", [probs, v], p + ".ctx"), hidden, hidden, p + ".o")
        x = layer_norm(node("Add", [x, attn], p + ".res1"), p + ".ln1")
        h = node("Relu", [dense(x, hidden, inter, p + ".ffn1")], p + ".relu")
        x = layer_norm(node("Add", [x, dense(h, inter, hidden, p + ".ffn2")], p + ".res2"), p + ".ln2")

    dims = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    if classifier:
        cls = node("Gather", [x, "zero"], "cls", axis=1)
        pooled = node("Tanh", [dense(cls, hidden, hidden, "pooler")], "pooled")
        enc_logits = dense(pooled, hidden, 2, "classifier")
        w0 = node("Gather", [word, "zero"], "sentiment_dim", axis=2)
        axes = const("axes1", np.array([1], np.int64))
        total = node("ReduceSum", [node("Mul", [w0, maskf], "masked_sent"), axes], "sent_sum", keepdims=1)
        count = node("ReduceSum", [maskf, axes], "mask_count", keepdims=1)
        mean = node("Div", [total, count], "sent_mean")
        lex = node("Mul", [mean, const("lex_w", f32([-12, 12]))], "lex_logits")
        node("Add", [node("Mul", [enc_logits, const("enc_w", f32(0.1))], "enc_part"), lex], "logits")
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])]
    else:
        node("Identity", [x], "last_hidden_state")
        outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])]
    graph = helper.make_graph(nodes, "tiny_bert", inputs, outputs, initializer=inits)
    m = helper.make_model(graph, producer_name="continuum-gen-tiny-bert",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m.SerializeToString()


def write(path, data):
    if isinstance(data, str):
        data = data.encode()
    if os.path.exists(path) and open(path, "rb").read() == data:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def export(out, name, hidden, layers, inter, positions, classifier, seed):
    toks = vocab()
    d = os.path.join(out, name)
    write(os.path.join(d, "model.onnx"), build_model(toks, hidden, layers, inter, positions, classifier, seed))
    write(os.path.join(d, "vocab.txt"), "\n".join(toks) + "\n")
    write(os.path.join(d, "tokenizer.json"), json.dumps(tokenizer_json(toks), ensure_ascii=False, indent=1))
    config = {"architectures": ["BertForSequenceClassification" if classifier else "BertModel"],
              "model_type": "bert", "hidden_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": 1, "intermediate_size": inter, "max_position_embeddings": positions,
              "type_vocab_size": 2, "vocab_size": len(toks), "pad_token_id": 0}
    if classifier:
        config["id2label"] = {"0": "NEGATIVE", "1": "POSITIVE"}
        config["label2id"] = {"NEGATIVE": 0, "POSITIVE": 1}
    write(os.path.join(d, "config.json"), json.dumps(config, indent=1))
    write(os.path.join(d, "tokenizer_config.json"), json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}))


def main():
    args = sys.argv[1:]
    bench = "--bench" in args
    args = [a for a in args if a != "--bench"]
    if len(args) != 1:
        sys.exit(__doc__)
    out = args[0]
    if bench:
        export(out, "bench-bert-embeddings", 256, 4, 1024, 128, False, 3)
    else:
        export(out, "tiny-bert-embeddings", 32, 2, 64, 64, False, 1)
        export(out, "tiny-bert-sentiment", 32, 2, 64, 64, True, 2)


if __name__ == "__main__":
    main()
