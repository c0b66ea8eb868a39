"""Shared-prefix ("cascade") attention for the HF backend: the L samples of one prompt read its KV cache once.

The L continuations of a prompt differ only after the prompt. Repeating the prompt's KV cache L times (what
``batch_repeat_interleave`` does) multiplies its memory by L and makes every decode step read it L times; at
the paper's scale (L = 40, 2,500 prompt tokens, a 7–8B model) that is ~13 GB per step, more than the weights.
Here the prompt's keys and values are stored once (batch 1) and each sample's own tokens separately; a decode
step attends

* from the queries of all L samples at once to the one prefix (one matmul per KV head, the prefix read once),
* from each sample's queries to its own suffix,

and merges the two partial softmaxes exactly by their log-sum-exp:
``out = e^(lse_p - lse)·out_p + e^(lse_s - lse)·out_s`` with ``lse = logaddexp(lse_p, lse_s)``.

It plugs into transformers' attention interface (``AttentionInterface.register``) under the name ``lwd_shared``:
:class:`SharedPrefixCache` (a ``DynamicCache`` whose layers hold the prefix once and the suffixes per sample) is
passed to ``generate`` as ``past_key_values`` inside ``with decoding(model, cache):``, which switches the model
to that attention and is how the attention function finds the prefix (``generate`` refuses keywords the
model's ``forward`` does not name, so a context variable carries it, per thread). Everything else of ``generate`` (logits processors, stop strings, the
sampling generator) is unchanged, so the samples for a seed are those of the repeated-cache path.
Only plain full attention qualifies (no sliding window, soft-capping, sinks or position bias):
:func:`unsupported` says why a model does not, and the caller falls back to the repeated cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import Cache, DynamicLayer

__all__ = [
    "NAME",
    "SharedPrefixCache",
    "decoding",
    "kv_bytes_per_token",
    "shared_prefix_attention",
    "unsupported",
]

NAME = "lwd_shared"
_ACTIVE: ContextVar[SharedPrefixCache | None] = ContextVar("lwd_shared_prefix", default=None)


class SharedPrefixLayer(DynamicLayer):
    """One layer's cache: the prompt's keys and values once, each sample's own tokens in ``keys``/``values``."""

    def __init__(self, prefix_keys: torch.Tensor, prefix_values: torch.Tensor) -> None:
        super().__init__()
        self.prefix_keys, self.prefix_values = prefix_keys, prefix_values
        self.updates = self.attended = 0  # every update must be followed by a call of the shared attention

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        self.updates += 1
        return super().update(key_states, value_states)  # the suffix only; the attention adds the prefix

    def get_seq_length(self) -> int:
        return self.prefix_keys.shape[-2] + super().get_seq_length()


class SharedPrefixCache(DynamicCache):
    """The KV cache of L continuations of one prompt, the prompt's part stored once."""

    def __init__(self, prompt: DynamicCache) -> None:  # noqa: D107 - the prompt's cache, batch 1, is not copied
        Cache.__init__(self, layers=[SharedPrefixLayer(layer.keys, layer.values) for layer in prompt.layers])

    def check_routed(self) -> None:
        """Every layer's new tokens went through :func:`shared_prefix_attention` (else the model bypassed the
        attention interface and attended to its suffix alone: a bug, never a silent wrong answer)."""
        missed = [i for i, layer in enumerate(self.layers) if layer.updates != layer.attended]
        if missed:
            raise RuntimeError(
                f"layers {missed} updated the shared-prefix cache without calling the {NAME!r} attention"
            )


@contextmanager
def decoding(model: Any, cache: SharedPrefixCache) -> Iterator[SharedPrefixCache]:
    """While the block runs, ``model`` attends through :func:`shared_prefix_attention` with ``cache``'s
    prefix (in this thread); after it, with its usual attention again, every layer checked to have done so."""
    usual = model.config._attn_implementation
    model.set_attn_implementation(NAME)
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)
        model.set_attn_implementation(usual)
    cache.check_routed()


def unsupported(model: Any, prompt: DynamicCache) -> str | None:
    """Why the shared-prefix path cannot run this model (None: it can)."""
    config = model.config.get_text_config(decoder=True)
    if not getattr(model, "_supports_attention_backend", False):
        return f"{type(model).__name__} does not dispatch through transformers' attention interface"
    kinds = {type(layer).__name__ for layer in prompt.layers if type(layer) is not DynamicLayer}
    if kinds:
        return f"its cache has {', '.join(sorted(kinds))} layers (sliding-window or linear attention)"
    for name in ("attn_logit_softcapping", "alibi"):
        if getattr(config, name, None):
            return f"its attention uses {name}"
    return None


def _partial(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention of ``queries`` over ``keys`` and its log-sum-exp (scores and softmax in float32, as
    transformers' eager attention does; in place after the first float32 copy, the prefix's scores being the
    largest tensor of a decode step)."""
    scores = torch.matmul(queries, keys.transpose(-1, -2)).float().mul_(scale)
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1, keepdim=True)
    out = torch.matmul(scores.sub_(lse).exp_().to(values.dtype), values)
    return out.float(), lse


def shared_prefix_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of ``query`` (batch, heads, q, dim) over the shared prefix and each row's own ``key``/``value``
    (batch, kv_heads, suffix, dim). Returns (batch, q, heads, dim), as transformers' attention functions do."""
    cache = _ACTIVE.get()
    if cache is None:
        raise RuntimeError(f"the {NAME!r} attention runs inside `with decoding(model, cache):` only")
    bad = [name for name in ("softcap", "sliding_window", "position_bias") if kwargs.get(name) is not None]
    if bad or getattr(module, "sinks", None) is not None or attention_mask is not None or dropout:
        raise RuntimeError(
            f"the {NAME!r} attention computes plain causal attention only (got {bad or 'a mask'})"
        )
    layer = cache.layers[module.layer_idx]
    layer.attended += 1
    batch, heads, q_len, dim = query.shape
    kv_heads, suffix = key.shape[1], key.shape[2]
    # query rows per KV head and sample: query head h reads KV head h // (heads // kv_heads)
    rows = heads // kv_heads * q_len
    scale = scaling if scaling is not None else dim**-0.5
    grouped = query.reshape(batch, kv_heads, rows, dim)
    # the prefix: every sample's queries against the one copy, read once
    flat = grouped.transpose(0, 1).reshape(kv_heads, batch * rows, dim)
    out_p, lse_p = _partial(flat, layer.prefix_keys[0], layer.prefix_values[0], scale, None)
    out_p = out_p.reshape(kv_heads, batch, rows, dim).transpose(0, 1)
    lse_p = lse_p.reshape(kv_heads, batch, rows, 1).transpose(0, 1)
    # each sample's own tokens, causal within them: query i of q sees suffix positions <= suffix - q + i
    causal = None
    if q_len > 1:
        seen = torch.arange(suffix, device=query.device) <= (
            torch.arange(q_len, device=query.device)[:, None] + suffix - q_len
        )
        causal = seen.repeat(rows // q_len, 1)
    out_s, lse_s = _partial(grouped, key, value, scale, causal)
    lse = torch.logaddexp(lse_p, lse_s)
    out = out_p * torch.exp(lse_p - lse) + out_s * torch.exp(lse_s - lse)
    out = out.to(query.dtype).reshape(batch, heads, q_len, dim)
    return out.transpose(1, 2).contiguous(), None


def kv_bytes_per_token(model: Any) -> int:
    """Bytes of KV cache one token takes in ``model`` (keys and values, every layer)."""
    config = model.config.get_text_config(decoder=True)
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * model.dtype.itemsize


AttentionInterface.register(NAME, shared_prefix_attention)
