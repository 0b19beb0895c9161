"""The reference server's models: a small MLP classifier and a tiny bigram text generator, both real and seeded.

``churn-classifier`` is an MLP (8 -> 32 -> 32 -> 2, ReLU, softmax) trained at startup by full-batch gradient
descent on a synthetic data set drawn from a fixed seed, so its weights, and its answers for the evaluation set,
are the same on every start. Inference on CPU is batch-invariant by construction: each output is a fixed sequence
of elementwise multiply-adds over the batch, so a row's answer does not depend on which rows share its batch
(BLAS kernels pick different summation orders for different batch sizes; these do not). On CUDA, with PyTorch
installed, the same weights run as a ``torch.nn`` module: fast, but with no such guarantee.

``aifabric-tiny-lm`` is a word-level bigram model over a small built-in corpus plus a decaying context vector,
sampling one token at a time (greedy at temperature 0).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "CLASSES",
    "CLASSIFIER",
    "CLASSIFIER_VERSION",
    "FEATURES",
    "LM",
    "Classifier",
    "EvaluationSet",
    "NumpyClassifier",
    "TinyLM",
    "evaluation_set",
    "load_classifier",
    "resolve_device",
]

CLASSIFIER: Final = "churn-classifier"
CLASSIFIER_VERSION: Final = "1"
LM: Final = "aifabric-tiny-lm"
FEATURES: Final = 8
CLASSES: Final = 2
_HIDDEN: Final = 32
_SEED: Final = 20240611
_TRAIN_ROWS: Final = 2048
_EVAL_ROWS: Final = 256
_STEPS: Final = 300
_LEARNING_RATE: Final = 0.05

F32 = npt.NDArray[np.float32]
Device = Literal["auto", "cpu", "cuda"]


class Classifier(Protocol):
    """Anything that turns a batch of feature rows into class probabilities."""

    device: str

    def predict(self, rows: F32) -> F32:
        """Class probabilities, ``[batch, CLASSES]`` float32, for ``rows``, ``[batch, FEATURES]`` float32."""
        ...


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    """Held-out inputs (``[n, FEATURES]`` float32) and their true labels (``[n]`` int64)."""

    inputs: F32
    labels: npt.NDArray[np.int64]


def _data(rows: int, rng: np.random.Generator) -> tuple[F32, npt.NDArray[np.int64]]:
    """A synthetic churn-like data set: a nonlinear rule of the features, with a little label noise."""
    x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    score = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.9 * x[:, 2] * x[:, 3] + 0.5 * np.abs(x[:, 4]) - 0.4
    score = score + 0.1 * rng.standard_normal(rows).astype(np.float32)
    return x, (score > 0).astype(np.int64)


def evaluation_set() -> EvaluationSet:
    """The fixed evaluation set: the same rows and labels on every call and every machine."""
    rng = np.random.default_rng(_SEED + 1)
    x, y = _data(_EVAL_ROWS, rng)
    return EvaluationSet(x, y)


def _mm(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``a @ b`` without BLAS: its threads fight over a busy machine's cores and can make training 10x slower."""
    out: npt.NDArray[np.float64] = np.einsum("ij,jk->ik", a, b, optimize=False)
    return out


@functools.cache
def _train() -> tuple[tuple[F32, F32], ...]:
    """Weights and biases of the MLP after full-batch gradient descent with momentum (deterministic; once a process)."""
    rng = np.random.default_rng(_SEED)
    sizes = [FEATURES, _HIDDEN, _HIDDEN, CLASSES]
    params = [
        (
            (rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)).astype(np.float64),
            np.zeros(n_out, dtype=np.float64),
        )
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    x32, y = _data(_TRAIN_ROWS, rng)
    x = x32.astype(np.float64)
    onehot = np.eye(CLASSES)[y]
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    for _ in range(_STEPS):
        acts = [x]
        for n, (w, b) in enumerate(params):
            z = _mm(acts[-1], w) + b
            acts.append(np.maximum(z, 0.0) if n < len(params) - 1 else z)
        logits = acts[-1]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        grad = (probs - onehot) / len(x)
        for n in range(len(params) - 1, -1, -1):
            w, b = params[n]
            gw, gb = _mm(acts[n].T, grad), grad.sum(axis=0)
            if n:
                grad = _mm(grad, w.T) * (acts[n] > 0)
            vw, vb = velocity[n]
            vw = 0.9 * vw - _LEARNING_RATE * gw
            vb = 0.9 * vb - _LEARNING_RATE * gb
            velocity[n] = (vw, vb)
            params[n] = (w + vw, b + vb)
    return tuple((w.astype(np.float32), b.astype(np.float32)) for w, b in params)


def _dense(x: F32, w: F32, b: F32) -> F32:
    """``x @ w + b`` as elementwise multiply-adds in a fixed order: batch-invariant, unlike a BLAS matmul."""
    out = np.broadcast_to(b, (x.shape[0], w.shape[1])).copy()
    for k in range(w.shape[0]):
        out += x[:, k : k + 1] * w[k]
    return out


def _softmax(logits: F32) -> F32:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs: F32 = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return probs


class NumpyClassifier:
    """The MLP on CPU with numpy."""

    device = "cpu"

    def __init__(self, params: Sequence[tuple[F32, F32]]) -> None:
        self.params = list(params)

    def predict(self, rows: F32) -> F32:
        """Class probabilities for a batch of rows."""
        x = np.ascontiguousarray(rows, dtype=np.float32)
        for n, (w, b) in enumerate(self.params):
            x = _dense(x, w, b)
            if n < len(self.params) - 1:
                np.maximum(x, 0.0, out=x)
        return _softmax(x)


# --- the optional PyTorch path (CUDA only; torch is imported here and nowhere else) ---------------------------


class _TorchClassifier:  # pragma: no cover - needs torch and a GPU
    """The same MLP as a ``torch.nn`` module on ``cuda``."""

    device = "cuda"

    def __init__(self, params: Sequence[tuple[F32, F32]]) -> None:
        torch = importlib.import_module("torch")
        layers: list[Any] = []
        for n, (w, b) in enumerate(params):
            linear = torch.nn.Linear(w.shape[0], w.shape[1])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if n < len(params) - 1:
                layers.append(torch.nn.ReLU())
        self._torch = torch
        self._module = torch.nn.Sequential(*layers).to("cuda").eval()

    def predict(self, rows: F32) -> F32:
        """Class probabilities for a batch of rows, computed on the GPU."""
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).to("cuda", non_blocking=True)
            probs = torch.softmax(self._module(x), dim=1)
            out: F32 = probs.cpu().numpy()
        return out


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    torch = importlib.import_module("torch")  # pragma: no cover - only where torch is installed
    return bool(torch.cuda.is_available())  # pragma: no cover


def resolve_device(device: Device) -> Literal["cpu", "cuda"]:
    """The device ``auto`` means here (``cuda`` when PyTorch is installed and sees a GPU, else ``cpu``).

    Raises:
        ValueError: ``cuda`` was asked for and is not available, or the device is unknown.
    """
    if device == "cpu":
        return "cpu"
    if device not in ("auto", "cuda"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda")
    if _cuda_available():
        return "cuda"  # pragma: no cover
    if device == "cuda":
        raise ValueError("device cuda needs PyTorch with CUDA and a visible GPU")
    return "cpu"


def load_classifier(device: Device = "auto") -> Classifier:
    """Train the classifier (deterministically, well under a second) and put it on ``device``.

    Raises:
        ValueError: see :func:`resolve_device`.
    """
    where = resolve_device(device)
    params = _train()
    if where == "cuda":  # pragma: no cover - needs torch and a GPU
        return _TorchClassifier(params)
    return NumpyClassifier(params)


# --- the text generator ---------------------------------------------------------------------------------------

_CORPUS: Final = """
the model answers every request within its budget . the server batches requests and the model runs each batch
once . a contract states what the service promises and the checks prove it with evidence . the load generator
sends requests on a schedule and records when each answer arrives . when the queue is full the server says so
at once and the client retries later . lineage records where the data came from and which model used it .
a signed card says who trained the model and on what data . the audit log keeps every decision in order and
nobody can change it afterwards . reliability is measured not claimed . latency and throughput are traded
against each other and the contract names the trade . the tiny model writes short sentences one token at a
time and each token costs real work .
"""
_WORD: Final = re.compile(r"[a-z]+|[.,]")
_EMBED: Final = 32
_END: Final = "."


class TinyLM:
    """A seeded word-level bigram language model with a decaying context vector; one token per :meth:`step`."""

    def __init__(self) -> None:
        words = _WORD.findall(_CORPUS)
        self.vocab: list[str] = sorted(set(words))
        self._index = {w: n for n, w in enumerate(self.vocab)}
        size = len(self.vocab)
        counts = np.ones((size, size), dtype=np.float64) * 0.01
        for a, b in itertools.pairwise(words):
            counts[self._index[a], self._index[b]] += 1.0
        self._bigram = np.log(counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)
        rng = np.random.default_rng(_SEED + 2)
        self._embed = (rng.standard_normal((size, _EMBED)) * 0.3).astype(np.float32)
        self._out = (rng.standard_normal((_EMBED, size)) * 0.3).astype(np.float32)

    def tokens(self, text: str) -> list[str]:
        """The words and punctuation of ``text`` (lower-cased), as the model counts tokens."""
        return _WORD.findall(text.lower())

    def generate(self, prompt: str, *, max_tokens: int, temperature: float, seed: int | None) -> Iterator[str]:
        """Yield up to ``max_tokens`` pieces of text; greedy (deterministic) at temperature 0, else sampled.

        A piece is a word with its leading space, or a punctuation mark; generation stops after a full stop.
        """
        rng = np.random.default_rng(seed)
        known = [self._index[t] for t in self.tokens(prompt) if t in self._index]
        state = np.zeros(_EMBED, dtype=np.float32)
        for token in known:
            state = 0.6 * state + self._embed[token]
        current = known[-1] if known else self._index[_END]
        for _ in range(max_tokens):
            logits = self._bigram[current] + state @ self._out
            if temperature <= 0.0:
                current = int(np.argmax(logits))
            else:
                scaled = (logits - logits.max()) / temperature
                probs = np.exp(scaled.astype(np.float64))
                current = int(rng.choice(len(probs), p=probs / probs.sum()))
            state = 0.6 * state + self._embed[current]
            word = self.vocab[current]
            yield word if word in ".," else " " + word
            if word == _END:
                return
