"""Serve a packaged model (or any .gguf file) over llama.cpp's OpenAI-compatible HTTP API.

    python -m lwd.agents.serve --model smollm2-135m-instruct --port 8080

This is llama.cpp's own server (from the prebuilt ``xllamacpp`` wheel), not one written for lwd: it answers
``/v1/models``, ``/v1/chat/completions`` (with ``n`` and ``seed``), ``/v1/completions``, ``/tokenize``, ``/health``.
Point an agent at it with ``backend = "openai"`` and ``base_url = "http://127.0.0.1:8080/v1"``; the tests use it
as their real OpenAI-compatible server, and put an Ollama-API proxy in front of it for the ``ollama`` backend.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from lwd.agents.models import resolve_model

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lwd.agents.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="smollm2-135m-instruct", help="packaged model name or .gguf path")
    parser.add_argument("--name", help="the model id the server answers to (default: --model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--parallel", type=int, default=8, help="slots: the most samples of one request (n)")
    parser.add_argument("--ctx", type=int, default=8192, help="KV cache cells shared by all slots")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    opts = parser.parse_args(argv)

    import xllamacpp as xl

    model = resolve_model(opts.model)
    params = xl.CommonParams()
    params.model.path = str(model.path)
    params.model_alias = {opts.name or opts.model}  # a set of names in this binding
    params.n_parallel = opts.parallel
    params.n_ctx = opts.ctx
    params.kv_unified = True
    params.cpuparams.n_threads = opts.threads
    params.cpuparams_batch.n_threads = opts.threads
    params.hostnames = [opts.host]
    params.port = opts.port
    params.warmup = False
    params.verbosity = -1
    server = xl.Server(params)
    print(
        f"serving {opts.name or opts.model} ({model.path.name}) at {server.listening_address}/v1", flush=True
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    del server
    sys.exit(0)


if __name__ == "__main__":
    main()
