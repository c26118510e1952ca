"""Build an fp32 ONNX graph of a BERT-family sentence encoder straight from its weights.

The graph takes `input_ids` and `attention_mask` (int64, dynamic batch and sequence
axes) and returns `sentence_embedding`: mean pooling over the attention mask, then
L2 normalization. Building it with the `onnx` helper API avoids torch at build time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MASKED_SCORE = -10000.0
QKV = ("query", "key", "value")


@dataclass(frozen=True)
class BertConfig:
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    layer_norm_eps: float
    hidden_act: str

    @classmethod
    def from_hf(cls, config: dict) -> BertConfig:
        return cls(
            hidden_size=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            intermediate_size=config["intermediate_size"],
            layer_norm_eps=config.get("layer_norm_eps", 1e-12),
            hidden_act=config.get("hidden_act", "gelu"),
        )


def strip_prefix(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accept both `bert.encoder...` and `encoder...` checkpoints."""
    return {name.removeprefix("bert."): value for name, value in weights.items()}


class _GraphBuilder:
    def __init__(self, int8: bool, fp32_layers: tuple[str, ...]) -> None:
        self.int8 = int8
        self.fp32_layers = fp32_layers
        self._shared: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = 0

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], domain=domain, **attrs))
        return output

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """x @ weight + bias for a (K, N) weight; int8 when the builder quantizes."""
        if self.int8 and not name.endswith(self.fp32_layers):
            return self._int8_linear(x, weight, bias, name)
        product = self.op("MatMul", [x, self.constant(f"{name}.weight", weight)])
        return self.op("Add", [product, self.constant(f"{name}.bias", bias)])

    def _int8_linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        # Weights: symmetric int8, one scale per output channel. Activations: uint8 over
        # each token's own range (widened to include 0), computed at run time:
        #   x ~= (x_q - zero_point) * token_scale
        #   x @ W + b ~= token_scale * ((x_q @ W_q) * weight_scale)
        #                - (zero_point * token_scale) outer colsum(W) + b
        # A token's scale depends on that token alone and integer accumulation is exact,
        # so a text's embedding does not depend on the other texts in its batch.
        k, n = weight.shape
        weight_scale = (np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127.0).astype(np.float32)
        weight_q = np.clip(np.round(weight / weight_scale), -127, 127).astype(np.int8)
        column_sums = (weight_q.astype(np.float64) * weight_scale).sum(axis=0, keepdims=True)

        rows_shape = self.constant_once(f"shape_rows_{k}", np.array([-1, k], np.int64))
        rows = self.op("Reshape", [x, rows_shape])
        zero = self.shared("zero", 0.0)
        low = self.op("Min", [self.op("ReduceMin", [rows], axes=[1], keepdims=0), zero])
        high = self.op("Max", [self.op("ReduceMax", [rows], axes=[1], keepdims=0), zero])
        spread = self.op("Max", [self.op("Sub", [high, low]), self.shared("tiny", 1e-12)])
        token_scale = self.op("Div", [spread, self.shared("uint8_max", 255.0)])
        zero_point = self.op("Round", [self.op("Div", [self.op("Neg", [low]), token_scale])])
        x_q = self.op(
            "QuantizeLinear",
            [rows, token_scale, self.op("Cast", [zero_point], to=TensorProto.UINT8)],
            axis=0,
        )
        scaled_product = self.op(
            "MatMulIntegerToFloat",
            [
                x_q,
                self.constant(f"{name}.weight_int8", weight_q),
                self.shared("one", 1.0),
                self.constant(f"{name}.weight_scale", weight_scale),
            ],
            domain="com.microsoft",
        )
        column = self.constant_once("axes_1", np.array([1], np.int64))
        shift_minus_bias = self.op(
            "Gemm",
            [
                self.op("Unsqueeze", [self.op("Mul", [zero_point, token_scale]), column]),
                self.constant(f"{name}.column_sums", column_sums.astype(np.float32)),
                self.constant(f"{name}.negative_bias", -bias),
            ],
        )
        out = self.op(
            "Sub",
            [
                self.op("Mul", [scaled_product, self.op("Unsqueeze", [token_scale, column])]),
                shift_minus_bias,
            ],
        )
        return self.op("Reshape", [out, self.output_shape(n)])

    def int8_gather(self, table: np.ndarray, name: str, ids: str) -> str:
        """Rows of `table` at `ids`, stored as symmetric int8 with one scale per row."""
        scale = np.maximum(np.abs(table).max(axis=1, keepdims=True), 1e-12) / 127.0
        quantized = np.clip(np.round(table / scale), -127, 127).astype(np.int8)
        rows = self.op("Gather", [self.constant(f"{name}_int8", quantized), ids], axis=0)
        scales = self.op(
            "Gather", [self.constant(f"{name}_scale", scale.astype(np.float32)), ids], axis=0
        )
        return self.op("Mul", [self.op("Cast", [rows], to=TensorProto.FLOAT), scales])

    def output_shape(self, width: int) -> str:
        """(batch, sequence, width), from the input's shape."""
        name = f"shape_batch_sequence_{width}"
        if name not in self._shared:
            self._shared.add(name)
            self.nodes.append(
                helper.make_node(
                    "Concat",
                    [
                        self.op("Shape", ["input_ids"]),
                        self.constant(f"width_{width}", np.array([width], np.int64)),
                    ],
                    [name],
                    axis=0,
                )
            )
        return name

    def shared(self, name: str, value: float) -> str:
        return self.constant_once(name, np.array(value, np.float32))

    def constant_once(self, name: str, value: np.ndarray) -> str:
        if name not in self._shared:
            self._shared.add(name)
            self.constant(name, value)
        return name

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        scale = self.constant(f"{prefix}.weight", weights[f"{prefix}.weight"])
        bias = self.constant(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)

    def split(self, x: str, sizes: list[int]) -> list[str]:
        """Split the last axis into parts of the given sizes."""
        self._count += 1
        outputs = [f"split_{self._count}_{i}" for i in range(len(sizes))]
        split_sizes = self.constant(f"split_sizes_{self._count}", np.array(sizes, np.int64))
        self.nodes.append(helper.make_node("Split", [x, split_sizes], outputs, axis=-1))
        return outputs

    def gelu(self, x: str) -> str:
        half, one = self.shared("half", 0.5), self.shared("one", 1.0)
        root2 = self.shared("sqrt2", math.sqrt(2.0))
        erf = self.op("Erf", [self.op("Div", [x, root2])])
        return self.op("Mul", [self.op("Mul", [x, half]), self.op("Add", [erf, one])])


def _dense(weights: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """A torch Linear's (out, in) weight as a (K, N) MatMul operand, and its bias."""
    return weights[f"{prefix}.weight"].T, weights[f"{prefix}.bias"]


def build_bert_graph(
    weights: dict[str, np.ndarray],
    config: BertConfig,
    *,
    int8: bool,
    fp32_layers: tuple[str, ...] = (),
    int8_word_table: bool = False,
) -> onnx.ModelProto:
    """The encoder with fp32 linear layers, or with int8 ones when `int8` is set.

    `fp32_layers` names linear layers by suffix (e.g. "output.dense") to keep in fp32.
    `int8_word_table` stores the word embeddings in int8 with one scale per row (a
    quarter of the memory, which matters for a large vocabulary) when `int8` is set.
    """
    if config.hidden_act != "gelu":
        raise ValueError(f"unsupported hidden_act {config.hidden_act!r}; only exact gelu is built")
    weights = strip_prefix(weights)
    g = _GraphBuilder(int8, fp32_layers)
    hidden, heads = config.hidden_size, config.num_heads
    head_dim = hidden // heads

    # token_type_ids are always 0 for single sentences: fold that row into the positions.
    positions = weights["embeddings.position_embeddings.weight"]
    token_type_zero = weights["embeddings.token_type_embeddings.weight"][0]
    words = weights["embeddings.word_embeddings.weight"]
    int8_words = int8 and int8_word_table
    if not int8_words:
        g.constant("embeddings.word", words)
    g.constant("embeddings.position_and_type", (positions + token_type_zero).astype(np.float32))

    seq_len = g.op("Shape", ["input_ids"], start=1, end=2)
    zero = g.constant("start_0", np.array([0], np.int64))
    if int8_words:
        word_vectors = g.int8_gather(words, "embeddings.word", "input_ids")
    else:
        word_vectors = g.op("Gather", ["embeddings.word", "input_ids"], axis=0)
    x = g.op(
        "Add",
        [word_vectors, g.op("Slice", ["embeddings.position_and_type", zero, seq_len, zero])],
    )
    x = g.layer_norm(x, weights, "embeddings.LayerNorm", config.layer_norm_eps)

    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    one_f = g.shared("one", 1.0)
    masked = g.constant("masked_score", np.array(MASKED_SCORE, np.float32))
    score_bias = g.op("Mul", [g.op("Sub", [one_f, mask]), masked])
    score_bias = g.op("Unsqueeze", [score_bias, g.constant("axes_1_2", np.array([1, 2], np.int64))])

    split_heads = g.constant("shape_split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = g.constant("shape_merge_heads", np.array([0, 0, hidden], np.int64))
    score_scale = g.constant("score_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))

    for layer in range(config.num_layers):
        p = f"encoder.layer.{layer}"
        # Query, key and value share their input: one (K, 3K) product, then split.
        parts = [_dense(weights, f"{p}.attention.self.{kind}") for kind in QKV]
        qkv = g.linear(
            x,
            np.concatenate([w for w, _ in parts], axis=1),
            np.concatenate([b for _, b in parts]),
            f"{p}.attention.self.qkv",
        )
        q, k, v = (g.op("Reshape", [part, split_heads]) for part in g.split(qkv, [hidden] * 3))
        q = g.op("Transpose", [q], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [k], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), score_scale]), score_bias])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = g.linear(
            context, *_dense(weights, f"{p}.attention.output.dense"), f"{p}.attention.output.dense"
        )
        x = g.layer_norm(
            g.op("Add", [attended, x]),
            weights,
            f"{p}.attention.output.LayerNorm",
            config.layer_norm_eps,
        )
        intermediate = g.gelu(
            g.linear(x, *_dense(weights, f"{p}.intermediate.dense"), f"{p}.intermediate.dense")
        )
        out = g.linear(intermediate, *_dense(weights, f"{p}.output.dense"), f"{p}.output.dense")
        x = g.layer_norm(
            g.op("Add", [out, x]), weights, f"{p}.output.LayerNorm", config.layer_norm_eps
        )

    token_weights = g.op("Unsqueeze", [mask, g.constant("axes_2", np.array([2], np.int64))])
    axes_1 = g.constant_once("axes_1", np.array([1], np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, token_weights]), axes_1], keepdims=0)
    counts = g.op("ReduceSum", [token_weights, axes_1], keepdims=0)
    min_count = g.constant("min_count", np.array(1e-9, np.float32))
    pooled = g.op("Div", [summed, g.op("Max", [counts, min_count])])
    g.nodes.append(
        helper.make_node("LpNormalization", [pooled], ["sentence_embedding"], p=2, axis=1)
    )

    graph = helper.make_graph(
        g.nodes,
        "sentence_encoder",
        inputs=[
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
            for name in ("input_ids", "attention_mask")
        ],
        outputs=[
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
            )
        ],
        initializer=g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if int8:
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="headwater.models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
