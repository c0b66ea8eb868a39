"""The foreground of lwd's own servers (``python -m lwd.agents.serve``, ``python -m lwd.metrics.serve``)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from http.server import ThreadingHTTPServer

__all__ = ["serve_until_stopped"]


def serve_until_stopped(server: ThreadingHTTPServer, banner: str) -> None:
    """Serve in a thread, print ``banner`` (the format ``{url}`` is the server's root + /v1), and exit 0 on
    SIGINT or SIGTERM."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print(banner.format(url=f"http://{host}:{port}/v1"), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # at once, without the engines' destructors: llama.cpp's waits forever for a request whose client hung up
    os._exit(0)
