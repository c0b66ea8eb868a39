"""How many of the L continuations the HF backend decodes at once, and what it does when the GPU runs out.

:func:`chunk_size` sizes a chunk from the free GPU memory and an estimate of one sample's footprint
(:func:`sample_bytes`); :func:`draw_in_chunks` draws the L samples chunk by chunk and, when a chunk still runs
out of memory, halves the chunk and draws it again (each sample records the chunk size it was drawn in, so
a halving shows in responses.csv). On a CPU, memory is not measured: all L at once unless ``batch_size`` says
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Chunk", "chunk_size", "draw_in_chunks", "free_bytes", "sample_bytes"]

T = TypeVar("T")
USABLE = 0.8  # of the free memory: the allocator's fragmentation and the estimate's slack take the rest


@dataclass(frozen=True)
class Chunk:
    first: int  # index of its first sample: chunk seeded with seed + first
    rows: Any  # what the draw returned
    count: int
    halvings: int  # out-of-memory halvings before it fitted


def sample_bytes(
    kv_per_token: int,
    prompt_tokens: int,
    answer_tokens: int,
    *,
    shared: bool,
    vocab: int,
    heads: int,
    hidden: int,
    intermediate: int,
    itemsize: int,
) -> int:
    """Peak memory one more sample adds to a chunk: its KV cache (the answer's tokens; the prompt's too when
    the prompt's cache is repeated), the step's logits in float32 with the logits processors' copies, one
    token's activations, and the attention scores over prompt + answer in float32."""
    held = answer_tokens + 1 + (0 if shared else prompt_tokens)
    logits = 4 * vocab * 4
    activations = (2 * intermediate + 4 * hidden) * itemsize
    scores = 3 * heads * (prompt_tokens + answer_tokens) * 4
    return held * kv_per_token + logits + activations + scores


def chunk_size(samples: int, free: int | None, per_sample: int) -> int:
    """Samples per chunk: all when memory is not measured (``free`` None), else as many as fit ``USABLE`` of
    the free bytes, at least one."""
    if free is None:
        return samples
    return max(1, min(samples, int(free * USABLE) // max(per_sample, 1)))


def free_bytes(device: str) -> int | None:
    """Bytes a CUDA device can still give (free on the card plus what torch holds unused); None on a CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def draw_in_chunks(
    samples: int, size: int, draw: Callable[[int, int], T], on_oom: Callable[[int], None] = lambda n: None
) -> list[Chunk]:
    """``draw(first, count)`` for consecutive chunks of ``size`` covering ``samples``. A chunk that raises
    ``torch.OutOfMemoryError`` is drawn again at half its size (``on_oom(count)`` first, to free memory); a
    single sample that does not fit re-raises."""
    import torch  # the backend's extra; this module's sizing needs none

    chunks: list[Chunk] = []
    first = halvings = 0
    while first < samples:
        count = min(size, samples - first)
        try:
            rows = draw(first, count)
        except torch.OutOfMemoryError:
            if count == 1:
                raise
            on_oom(count)
            size, halvings = count // 2, halvings + 1
            continue
        chunks.append(Chunk(first, rows, count, halvings))
        first += count
    return chunks
