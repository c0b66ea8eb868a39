"""Where the hf backend's weights come from, and its check before a run: a local transformers folder, a repo
already in the Hugging Face cache (lwd never downloads at run time), or a GGUF file (a packaged model's)
dequantised once into lwd's cache and kept there, keyed by the file's sha256."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

from lwd.agents.config import HFAgentConfig
from lwd.agents.factory import Check
from lwd.agents.models import gguf_context_length, resolve_model, sha256_file
from lwd.core.errors import SetupError
from lwd.core.files import cache_dir
from lwd.core.offline import quiet

__all__ = ["local_model_folder", "check_hf"]


def _cache_root() -> Path:
    return cache_dir() / "hf"


def local_model_folder(model: str, base: Path | None) -> tuple[Path, dict]:
    """A folder transformers can load offline, and what the manifest should record about it."""
    path = Path(model).expanduser()
    if not path.is_absolute() and base is not None and (base / path).exists():
        path = base / path
    if path.is_dir() and (path / "config.json").is_file():
        weights = sorted(path.glob("*.safetensors"))
        return path, {
            "path": str(path),
            "revision": path.name,
            "weights_sha256": {w.name: sha256_file(w) for w in weights},
        }
    if "/" in model and not path.exists() and not model.endswith(".gguf"):
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(model, local_files_only=True))
        except Exception as exc:  # noqa: BLE001
            raise SetupError(
                f"Hugging Face model {model!r} is not in the local cache and lwd never downloads at run time",
                fix=f"`hf download {model}` on a machine with internet and copy the cache here, or give a "
                "local folder",
            ) from exc
        return folder, {"path": str(folder), "repo": model, "revision": folder.name}
    gguf = resolve_model(model, base)  # a packaged name or a .gguf file: dequantise once, keep the result
    digest = sha256_file(gguf.path)
    folder = _cache_root() / f"{gguf.path.stem}-{digest[:16]}"
    if not (folder / ".complete").is_file():
        _convert_gguf(gguf.path, folder)
    return folder, {"path": str(folder), "gguf": str(gguf.path), "sha256": digest, "style": gguf.style}


def _convert_gguf(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet()
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.redirect_stderr(io.StringIO()):  # transformers draws a bare tqdm bar while converting
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model.hf_quantizer = None  # the weights are plain float32 now; saving as GGUF-quantized would fail
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / ".complete").write_text(str(gguf))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def check_hf(config: HFAgentConfig, base: Path | None = None):
    """The model resolves to a local folder, a cached repo or a GGUF file (nothing is converted or loaded)."""

    def found(context: int | None, detail: str) -> Check:
        return Check(config.name, "hf", "in-process", True, True, context, detail=detail)

    path = Path(config.model).expanduser()
    if not path.is_absolute() and base is not None and (base / path).exists():
        path = base / path
    if path.is_dir() and (path / "config.json").is_file():
        settings = json.loads((path / "config.json").read_text())
        return found(settings.get("max_position_embeddings"), f"folder {path}")
    try:
        if "/" in config.model and not path.exists() and not config.model.endswith(".gguf"):
            folder, _ = local_model_folder(config.model, base)  # a repo id: only the local cache is looked at
            return found(None, f"cached {folder}")
        gguf = resolve_model(config.model, base)
    except SetupError as exc:
        return Check(
            config.name,
            "hf",
            "in-process",
            True,
            False,
            detail=exc.message.split(":")[0],
            fix=exc.fix or "give a local model folder",
        )
    return found(gguf_context_length(gguf.path), f"{gguf.path.name} (dequantised once into {_cache_root()})")
