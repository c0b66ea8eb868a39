"""LangSmith's standard call parameters, the same way for every chat model lwd defines."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel, LangSmithParams

__all__ = ["ls_params"]


def ls_params(
    chat: BaseChatModel, provider: str, model_name: str, stop: list[str] | None, **kwargs: Any
) -> LangSmithParams:
    """Provider, model name (a per-call ``model=`` wins), temperature, max tokens and stop strings of a call."""
    params = LangSmithParams(
        ls_provider=provider, ls_model_name=kwargs.get("model", model_name), ls_model_type="chat"
    )
    temperature = kwargs.get("temperature", getattr(chat, "temperature", None))
    if temperature is not None:
        params["ls_temperature"] = temperature
    max_tokens = kwargs.get("max_tokens", getattr(chat, "max_tokens", None))
    if max_tokens is not None:
        params["ls_max_tokens"] = max_tokens
    stop = stop if stop is not None else getattr(chat, "stop", None)
    if stop:
        params["ls_stop"] = list(stop)
    return params
