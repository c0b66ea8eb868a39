"""Serve a packaged model (or any .gguf file) over llama.cpp's OpenAI-compatible HTTP API.

    python -m lwd.agents.serve --model smollm2-135m-instruct --port 8080

The engine is llama.cpp's own server (from the prebuilt ``xllamacpp`` wheel), set up as the embedded backend sets
it up; it answers ``/v1/models``, ``/v1/chat/completions`` (with ``n`` and ``seed``), ``/v1/completions``,
``/tokenize``, ``/health``, ``/metrics`` (llama.cpp's counters, e.g. ``llamacpp:prompt_tokens_total``: the
prompt tokens it evaluated). Point an agent at it with ``backend = "openai"`` and
``base_url = "http://127.0.0.1:8080/v1"``; the tests use it as their real OpenAI-compatible server, and put an
Ollama-API proxy in front of it for the ``ollama`` backend.

Reproducible by default: the same request with the same ``seed`` gives the same answer, whatever came before it
and whoever else is asking, so ``lwd resume`` of a run on this server ends where an uninterrupted run would.
llama.cpp alone does not promise that: requests in flight together share batches, and a cached prompt prefix is
evaluated in other batch splits, which changes the rounding and so the samples. So a thin front on ``--host:--port``
passes every generation request to the engine (on a private loopback port) one at a time, with the prompt cache
off and its parent in slot 0, as the embedded backend does; the ``n`` samples of one request still decode as one
batch. ``--concurrent`` drops both for throughput when several agents share the server and reproducibility does
not matter: requests share batches, and a prompt whose head another prompt already had (in a slot, or with
``--cache-ram`` in host memory) evaluates only the rest — agents with ``layout = "shared-first"`` share the
most. vLLM, Ollama and other servers make their own (weaker) promises: see the README's backends section.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lwd.agents.llamacpp import REPRODUCIBLE, Engine
from lwd.agents.models import resolve_model
from lwd.core.serving import serve_until_stopped

__all__ = ["main", "front", "QUEUE_WAIT"]

_GENERATION = ("/completions", "/chat/completions")
_FORWARDED = ("content-type", "authorization", "accept")
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


QUEUE_WAIT = 30.0  # seconds a generation request waits for its turn before the answer is "busy" (503)


class _Front(BaseHTTPRequestHandler):
    """Forwards every request to ``upstream``; with ``lock``, generation requests one at a time (:func:`front`)."""

    upstream: str = ""
    lock: threading.Lock | None = None
    queue_wait: float = QUEUE_WAIT
    last: list[float] = [1.0]  # seconds the last generation took: the Retry-After of a busy answer

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, body: bytes | None) -> None:
        generation = body is not None and self.path.split("?")[0].rstrip("/").endswith(_GENERATION)
        queued = generation and self.lock is not None
        if queued:
            body = _pinned(body)
            if not self.lock.acquire(timeout=self.queue_wait):
                return self._busy()
        try:
            if queued and self._client_gone():
                return  # it gave up (timed out) while queued: generating its answer would only delay the next
            started = time.monotonic()
            self._relay(body)
            if queued:
                self.last[0] = time.monotonic() - started
        except (BrokenPipeError, ConnectionResetError):
            print(f"a client hung up before its answer was sent: {self.command} {self.path}", file=sys.stderr)
        finally:
            if queued:
                self.lock.release()

    def _relay(self, body: bytes | None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
        request = urllib.request.Request(
            self.upstream + self.path, data=body, headers=headers, method=self.command
        )
        try:
            response = _LOOPBACK.open(request, timeout=None)
        except urllib.error.HTTPError as exc:
            response = exc
        except OSError as exc:
            self.send_error(502, f"the llama.cpp engine did not answer: {exc}")
            return
        with response:
            self.send_response(response.status)
            self.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes (streams too)
            while chunk := response.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()

    def _busy(self) -> None:
        said = {
            "error": {
                "message": f"busy: generation requests wait at most {self.queue_wait:g} s",
                "type": "busy",
            }
        }
        body = json.dumps(said).encode()
        try:
            self.send_response(503)
            self.send_header("Retry-After", str(max(1, math.ceil(self.last[0]))))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _client_gone(self) -> bool:
        """Whether the client closed its connection (it sends nothing after its request: readable = closed)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def front(
    host: str, port: int, upstream: str, lock: threading.Lock | None, queue_wait: float = QUEUE_WAIT
) -> ThreadingHTTPServer:
    """An HTTP server on ``host:port`` that forwards every request to ``upstream``; with ``lock``, generation
    requests go one at a time and reproducibly (see the module docstring). One that waited ``queue_wait``
    seconds for its turn is answered 503 with ``Retry-After`` (the last generation's seconds): a client's
    timeout then counts its own generation, not a queue of others' (lwd's pools wait and ask again, without
    counting a failure). A client that hung up is logged in one line."""
    settings = {"upstream": upstream, "lock": lock, "queue_wait": queue_wait, "last": [1.0]}
    server = ThreadingHTTPServer((host, port), type("Front", (_Front,), settings))
    server.daemon_threads = True
    return server


def _pinned(body: bytes) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        return body  # the engine answers a malformed request with its own error
    return json.dumps({**data, **REPRODUCIBLE}).encode() if isinstance(data, dict) else body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lwd.agents.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="smollm2-135m-instruct", help="packaged model name or .gguf path")
    parser.add_argument("--name", help="the model id the server answers to (default: --model)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--parallel", type=int, default=8, help="slots: the most samples of one request (n)")
    parser.add_argument("--ctx", type=int, default=8192, help="KV cache cells shared by all slots")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="let requests share batches and the prompt cache: faster with many agents, not reproducible",
    )
    parser.add_argument(
        "--cache-ram",
        type=int,
        default=0,
        metavar="MIB",
        help="with --concurrent: host memory for cached prompts beyond the slots' own (llama.cpp --cache-ram)",
    )
    parser.add_argument(
        "--queue-wait",
        type=float,
        default=QUEUE_WAIT,
        metavar="S",
        help="seconds a generation request waits for its turn before the server answers 503 busy with "
        "Retry-After (lwd's pools wait and ask again; a client's timeout never counts a long queue)",
    )
    opts = parser.parse_args(argv)
    if opts.cache_ram and not opts.concurrent:
        parser.error("--cache-ram needs --concurrent: the reproducible mode evaluates every prompt whole")

    model = resolve_model(opts.model)
    engine = Engine(
        str(model.path),
        opts.ctx,
        opts.parallel,
        opts.threads,
        alias=opts.name or opts.model,
        prompt_cache_mib=opts.cache_ram,
        metrics=True,
    )
    server = front(
        opts.host, opts.port, engine.url, None if opts.concurrent else engine.lock, opts.queue_wait
    )
    mode = "concurrent" if opts.concurrent else "reproducible: one generation request at a time"
    serve_until_stopped(server, f"serving {opts.name or opts.model} ({model.path.name}) at {{url}} ({mode})")


if __name__ == "__main__":
    main()
