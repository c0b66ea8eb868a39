"""ϕ on a server: an OpenAI-compatible ``/v1/embeddings`` endpoint, or a pool of them.

::

    [embedder]
    model = "all-MiniLM-L6-v2"                  # the model id the server answers to
    base_url = ["http://gpu1:8090/v1", "http://gpu2:8090/v1"]   # one URL, or a pool
    batch_size = 256                            # texts per request
    concurrency = 4                             # requests in flight per endpoint

vLLM (``--task embed``), text-embeddings-inference, llama.cpp's server (``--embeddings``) and lwd's own
(``python -m lwd.metrics.serve``) speak this API. A round's answers go out in batches of ``batch_size``, spread
over the pool (:class:`lwd.core.endpoints.EndpointPool`: least in flight, an endpoint that fails set aside and its
batch sent to another). When every endpoint has failed a batch ``attempts`` times the run stops with a
:class:`BackendError` before the round is written; ``lwd resume`` continues once a server is back.

The model's identity is pinned in the manifest: what ``/v1/models`` says of it (lwd's own server adds the weights'
sha256, as the local embedder records them), its dimension, and its vector for a fixed probe text — which
``lwd resume`` checks again, so a resumed run cannot silently continue on another model.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lwd.core.endpoints import EndpointPool
from lwd.core.errors import BackendError, SetupError
from lwd.core.extras import require
from lwd.core.retry import RETRY_STATUS, retried, transient

__all__ = ["RemoteEmbedder", "PROBE", "PROBE_TOLERANCE", "probe_differs"]

PROBE = "Bitcoin will keep its value as more people use it."  # embedded at the start; its vector is pinned
PROBE_TOLERANCE = 1e-3  # the largest change of a probe component that still counts as the same model
log = logging.getLogger(__name__)


class RemoteEmbedder:
    """An :class:`~lwd.metrics.embedders.Embedder` whose vectors come from ``/v1/embeddings`` servers."""

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        batch_size: int = 64,
        concurrency: int = 4,
        timeout: float = 120.0,
        attempts: int = 3,
        backoff: float = 1.0,
        api_key_env: str | None = None,
    ):
        require("llm", f"the embedder on {', '.join(urls)}", modules=("httpx",))
        import httpx

        self.name, self.batch_size, self.attempts, self.backoff = name, batch_size, attempts, backoff
        self.pool = EndpointPool(urls, concurrency)
        self._client = httpx.Client(timeout=timeout, headers=_auth(api_key_env))
        self._errors = (httpx.TransportError, TimeoutError, ConnectionError)
        self._workers = concurrent.futures.ThreadPoolExecutor(
            max_workers=concurrency * len(self.pool.urls), thread_name_prefix="lwd-embed"
        )
        self.served = self._check()
        self.probe = self.embed([PROBE])[0]
        self.dim = int(self.probe.shape[0])

    def _check(self) -> dict[str, Any]:
        """Each endpoint's ``/models`` entry for this model (None where the server lists none); endpoints that
        do not answer start set aside; none answering, or one that serves other models only, is refused."""
        served: dict[str, Any] = {}
        down: list[str] = []
        for index, url in enumerate(self.pool.urls):
            try:
                response = self._client.get(f"{url}/models")
            except self._errors as exc:
                down.append(f"{url}: {type(exc).__name__}: {exc}")
                self.pool.set_aside(index, str(exc))
                continue
            listed = _listed(response)
            if listed is not None and self.name not in listed:
                raise SetupError(
                    f"the embedding server {url} serves {', '.join(map(repr, listed)) or 'no model'}, "
                    f"not {self.name!r}",
                    fix=f"set [embedder] model to one of those, or start the server with {self.name!r}",
                )
            served[url] = listed[self.name] if listed is not None else None
        if not served:
            raise SetupError(
                "no embedding server of [embedder] base_url answers:\n  " + "\n  ".join(down),
                fix="start one (e.g. `python -m lwd.metrics.serve --port 8090`) or correct base_url",
            )
        return served

    def describe(self) -> dict[str, Any]:
        """What pins the model: the servers' word on it, its dimension, its probe vector (head)."""
        entries = [e for e in self.served.values() if isinstance(e, dict)]
        weights = [e.get("weights_sha256") for e in entries if e.get("weights_sha256")]
        return {
            "name": self.name,
            "kind": "server",
            "base_url": list(self.pool.urls),
            "dim": self.dim,
            "batch_size": self.batch_size,
            "served": self.served,
            **({"weights_sha256": weights[0]} if weights and len(entries) == len(self.served) else {}),
            "probe": {"text": PROBE, "head": [round(float(v), 6) for v in self.probe[:16]]},
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        batches = [list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(list(self._workers.map(self._batch, batches))).astype(np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        """One batch's vectors, from whichever endpoint answers (module docstring), under the one retry policy
        (:mod:`lwd.core.retry`) when every endpoint failed it."""

        def once() -> np.ndarray:
            return self.pool.first_answer(lambda i: self._post(self.pool.urls[i], texts), self._transient)[0]

        try:
            return retried(once, self.attempts, self.backoff, self._transient)
        except Exception as exc:
            if not self._transient(exc):
                raise
            raise BackendError(
                f"the embedding server(s) {', '.join(self.pool.urls)} did not embed a batch of {len(texts)} "
                f"answers in {self.attempts} tries; last: {type(exc).__name__}: {exc}",
                fix="start the server again, then `lwd resume` the run: this round was not written",
            ) from exc

    def _transient(self, exc: BaseException) -> bool:
        return transient(exc, self._errors)

    def _post(self, url: str, texts: list[str]) -> np.ndarray:
        response = self._client.post(
            f"{url}/embeddings", json={"model": self.name, "input": texts, "encoding_format": "float"}
        )
        if response.status_code in RETRY_STATUS:
            response.raise_for_status()
        if response.status_code != 200:
            raise BackendError(
                f"the embedding server {url} refused {len(texts)} answers: HTTP {response.status_code} "
                f"{response.text[:300]}",
                fix="check [embedder] model and batch_size against what the server accepts",
            )
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = np.array([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"the embedding server {url} did not answer in the OpenAI embeddings API "
                f"({type(exc).__name__}: {exc}): {response.text[:200]}",
                fix="point [embedder] base_url at an OpenAI-compatible server's /v1",
            ) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise BackendError(
                f"the embedding server {url} returned {len(vectors)} vectors for {len(texts)} answers",
                fix="point [embedder] base_url at an OpenAI-compatible server's /v1",
            )
        return vectors

    def close(self) -> None:
        self._workers.shutdown(wait=False)
        self._client.close()


def _auth(env: str | None) -> dict[str, str]:
    if not env:
        return {}
    key = os.environ.get(env)
    if not key:
        raise SetupError(
            f"[embedder] api_key_env = {env!r}, but that environment variable is not set",
            fix=f"export {env}=<key>",
        )
    return {"Authorization": f"Bearer {key}"}


def _listed(response: Any) -> dict[str, Any] | None:
    """The models a ``/models`` answer lists, by id; None when the server has no such list (some embedding
    servers answer only ``/embeddings``)."""
    if response.status_code != 200:
        return None
    try:
        return {entry["id"]: entry for entry in response.json()["data"]}
    except (ValueError, KeyError, TypeError):
        return None


def probe_differs(recorded: dict[str, Any] | None, now: dict[str, Any] | None) -> float | None:
    """The largest change of the probe vector's head between two ``describe()["probe"]`` (infinite when their
    lengths differ); None if either has none."""
    if not recorded or not now:
        return None
    if len(recorded.get("head", ())) != len(now.get("head", ())):
        return float("inf")
    return float(np.max(np.abs(np.subtract(recorded["head"], now["head"]))))
