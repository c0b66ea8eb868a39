"""Serve an embedder ϕ over the OpenAI embeddings API, so a run's answers can be embedded on another machine.

    python -m lwd.metrics.serve --model all-MiniLM-L6-v2 --port 8090

It answers ``POST /v1/embeddings`` (``input``: a text or a list of texts; ``encoding_format`` ``float`` or
``base64``), ``GET /v1/models`` (the model, its dimension and its weights' sha256, which the run's manifest pins)
and ``GET /health``. Point a scenario at it with ``[embedder] base_url = "http://HOST:8090/v1"``. The vectors are
those the same embedder gives in-process (lwd's own sentence-transformers code path; batches are encoded one at a
time, so an answer's vector does not depend on who else is asking). ``--host 0.0.0.0`` serves other machines.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from lwd.core.errors import LwdError
from lwd.core.serving import serve_until_stopped
from lwd.metrics.embedders import MINILM, load_embedder

__all__ = ["main", "serve"]

MAX_INPUTS = 4096  # texts in one request


def _embeddings_answer(embedder: Any, texts: list[str], vectors: np.ndarray, as_base64: bool) -> dict:
    """The OpenAI embeddings API's answer for ``texts`` (floats, or each vector's bytes in base64)."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.tobytes()).decode() if as_base64 else v.tolist(),
        }
        for i, v in enumerate(vectors)
    ]
    words = sum(len(t.split()) for t in texts)
    usage = {"prompt_tokens": words, "total_tokens": words}
    return {"object": "list", "data": data, "model": embedder.name, "usage": usage}


class _Embeddings(BaseHTTPRequestHandler):
    """/v1/models, /health and /v1/embeddings of one embedder (:func:`serve`), one batch at a time."""

    embedder: Any = None
    entry: dict[str, Any] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/models"):
            self._send(200, {"object": "list", "data": [self.entry]})
        elif path.endswith("/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no such path {self.path!r}: this server answers /v1/embeddings")

    def do_POST(self) -> None:
        if not self.path.split("?")[0].rstrip("/").endswith("/embeddings"):
            self._error(404, f"no such path {self.path!r}: this server answers /v1/embeddings")
            return
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError as exc:
            self._error(400, f"the body is not JSON: {exc}")
            return
        problem = _problem(request, self.embedder.name)
        if problem:
            self._error(404 if problem.startswith("model") else 400, problem)
            return
        texts = [request["input"]] if isinstance(request["input"], str) else request["input"]
        with self.lock:
            vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        as_base64 = request.get("encoding_format") == "base64"
        self._send(200, _embeddings_answer(self.embedder, texts, vectors, as_base64))

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def serve(embedder: Any, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server on ``host:port`` answering the OpenAI embeddings API with ``embedder``."""
    described = embedder.describe()
    entry = {
        "id": embedder.name,
        "object": "model",
        "owned_by": "lwd",
        "dim": embedder.dim,
        **({"weights_sha256": described["weights_sha256"]} if "weights_sha256" in described else {}),
    }
    handler = type(
        "Embeddings", (_Embeddings,), {"embedder": embedder, "entry": entry, "lock": threading.Lock()}
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _problem(request: Any, name: str) -> str | None:
    """What is wrong with an embeddings request, or None."""
    if not isinstance(request, dict) or "input" not in request:
        return "expected a JSON object with `input` (a text or a list of texts)"
    if request.get("model") not in (None, name):
        return f"model {request.get('model')!r} is not served here: this server serves {name!r}"
    if request.get("encoding_format") not in (None, "float", "base64"):
        return f"expected encoding_format 'float' or 'base64', got {request.get('encoding_format')!r}"
    texts = request["input"]
    if isinstance(texts, str):
        return None
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return "expected `input` to be a text or a non-empty list of texts (token arrays are not accepted)"
    if len(texts) > MAX_INPUTS:
        return f"expected at most {MAX_INPUTS} texts in one request, got {len(texts)}"
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lwd.metrics.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        default=MINILM,
        help=f"{MINILM} (packaged), nomic-ai/nomic-embed-text-v1.5 (if cached) or a sentence-transformers folder",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--device", default="cpu", help='"cpu", "cuda" …')
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    opts = parser.parse_args(argv)
    try:
        embedder = load_embedder(opts.model, opts.device, opts.batch_size)
    except LwdError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    server = serve(embedder, opts.host, opts.port)
    serve_until_stopped(server, f"serving embeddings of {embedder.name} ({embedder.dim}-d) at {{url}}")


if __name__ == "__main__":
    main()
