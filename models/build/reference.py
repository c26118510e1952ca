"""A plain numpy forward pass of a BERT sentence encoder (fp32, one text at a time).

Independent of ONNX: the build checks its exported graph against this, and stores
this model's embeddings of fixed sentences as the fp32 reference for tests.
"""

from __future__ import annotations

import math

import numpy as np

from models.build.bert_graph import BertConfig, strip_prefix

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class NumpyBert:
    def __init__(self, weights: dict[str, np.ndarray], config: BertConfig) -> None:
        self.w = {
            k: v.astype(np.float64) for k, v in strip_prefix(weights).items() if v.dtype.kind == "f"
        }
        self.config = config

    def _linear(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[f"{prefix}.weight"].T + self.w[f"{prefix}.bias"]

    def _norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        eps = self.config.layer_norm_eps
        return _layer_norm(x, self.w[f"{prefix}.weight"], self.w[f"{prefix}.bias"], eps)

    def embed_ids(self, input_ids: list[int]) -> np.ndarray:
        """Mean-pooled, L2-normalized embedding of one unpadded token sequence."""
        w, c = self.w, self.config
        n = len(input_ids)
        head_dim = c.hidden_size // c.num_heads
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for layer in range(c.num_layers):
            p = f"encoder.layer.{layer}"

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(n, c.num_heads, head_dim).transpose(1, 0, 2)

            q = heads(self._linear(x, f"{p}.attention.self.query"))
            k = heads(self._linear(x, f"{p}.attention.self.key"))
            v = heads(self._linear(x, f"{p}.attention.self.value"))
            probs = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(head_dim))
            context = (probs @ v).transpose(1, 0, 2).reshape(n, c.hidden_size)
            x = self._norm(
                self._linear(context, f"{p}.attention.output.dense") + x,
                f"{p}.attention.output.LayerNorm",
            )
            h = self._linear(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
            x = self._norm(self._linear(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        pooled = x.mean(0)
        return (pooled / np.linalg.norm(pooled)).astype(np.float32)
