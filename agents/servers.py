"""Agents on inference servers: any OpenAI-compatible server (vLLM, llama.cpp's server, ``transformers serve``)
through langchain-openai's ChatOpenAI, and Ollama's HTTP API through langchain-ollama's ChatOllama.

Before a run every server agent is checked (:func:`check_openai`, :func:`check_ollama`): reachable, serving the
model, its context size, and what pins the model in the manifest (the served model id, Ollama's digest). An
unreachable server is a clear error before round 1, naming the agent, the URL and the fix.

L samples: OpenAI-compatible servers get one request with ``n = L`` (the server evaluates the prompt once;
llama.cpp gives sample l the seed s + l, vLLM derives a seed per sequence); ``native_n = false`` sends L
requests with seeds s + l instead. Ollama has no ``n``: L requests with seeds s + l, at most ``concurrency`` in
flight per server (shared by every agent on it).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel

from lwd.agents.agent import Agent
from lwd.agents.config import ContextPolicy, OllamaAgentConfig, OpenAIAgentConfig
from lwd.agents.contract import ChatBackend
from lwd.agents.factory import Check, make_agent
from lwd.agents.http import BadAnswer, bad_answer, expect, http_json, unreachable
from lwd.agents.pool import pooled_class
from lwd.agents.reliability import Reliability
from lwd.core.endpoints import pool_for
from lwd.core.errors import SetupError
from lwd.core.retry import ALWAYS_TRANSIENT

__all__ = ["build_openai", "build_ollama", "check_openai", "check_ollama"]

# -- OpenAI-compatible ----------------------------------------------------------------------------------------


def _api_key(config: OpenAIAgentConfig) -> str:
    if not config.api_key_env:
        return "not-needed"  # local servers accept any key
    key = os.environ.get(config.api_key_env)
    if not key:
        raise SetupError(
            f"agent {config.name!r}: api_key_env = {config.api_key_env!r}, but that environment variable is not set",
            fix=f"export {config.api_key_env}=<key>",
        )
    return key


def check_openai(config: OpenAIAgentConfig, base: Path | None = None) -> Check:
    """Each endpoint of the agent's pool: reachable, serving the model (:func:`_pool_check` for several)."""
    return _pool_check(config, [_check_openai_at(config, url) for url in config.endpoints])


def _check_openai_at(config: OpenAIAgentConfig, url: str) -> Check:
    try:
        listed = http_json(
            f"{url}/models",
            timeout=min(config.timeout, 10.0),
            headers={"Authorization": f"Bearer {_api_key(config)}"},
        )
        models = {m.get("id"): m for m in expect(f"{url}/models", listed, "data", "models")}
    except BadAnswer as exc:
        return bad_answer(config, url, exc, "an OpenAI-compatible API listing its models at /models")
    except OSError as exc:
        return unreachable(
            config,
            url,
            exc,
            "start the server (vLLM: `vllm serve MODEL`; llama.cpp: `python -m lwd.agents.serve`)",
        )
    if config.model not in models:
        return Check(
            config.name,
            "openai",
            url,
            True,
            False,
            detail=f"serves {sorted(map(str, models))}",
            fix=f"the server does not serve {config.model!r}: set model to one of {sorted(map(str, models))} or "
            "start the server with that model",
        )
    entry = models[config.model]
    context = entry.get("max_model_len") or (entry.get("meta") or {}).get("n_ctx_train") or config.n_ctx
    return Check(
        config.name,
        "openai",
        url,
        True,
        True,
        context,
        detail=f"model {config.model!r}",
        pins={"served_model": entry, "base_url": url},
    )


@functools.cache
def _openai_classes() -> tuple[type[BaseChatModel], type[BaseChatModel]]:
    """ChatOpenAI under the backend contract: (L samples in one request with ``n``, one sample per request)."""
    import httpx
    import openai
    from langchain_openai import ChatOpenAI

    class OpenAIChat(ChatBackend, ChatOpenAI):
        """What both ways of asking share: the client's transient errors, and an answer that is not a chat
        completion (a web page, JSON of another shape) told as such."""

        transient_errors: ClassVar[tuple[type[BaseException], ...]] = (
            openai.APIConnectionError,  # refused, reset, timed out (APITimeoutError is one)
            httpx.TransportError,
        )
        answer_errors: ClassVar[tuple[type[BaseException], ...]] = (BadAnswer,)
        include_response_headers: bool = True  # the content type of an answer that is not a chat completion

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            try:
                return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
            except ValueError as exc:  # a body that is not JSON, under a JSON content type
                wrong = _not_json(exc)
                if wrong is None:
                    raise
                raise wrong from exc

        def _create_chat_result(self, response, generation_info=None):
            info = dict(generation_info or {})
            content_type = (info.pop("headers", None) or {}).get("content-type", "").split(";")[0]
            seen = response.model_dump(warnings=False) if isinstance(response, openai.BaseModel) else response
            wrong = _not_a_completion(seen, content_type, f"{self.openai_api_base}/chat/completions")
            if wrong is not None:
                raise wrong
            return super()._create_chat_result(response, info or None)

    class OpenAIRequests(OpenAIChat):
        """One sample per request (seeds s + l): servers without ``n``."""

    class OpenAISamples(OpenAIChat):
        """L samples in one request (``n = L``); the request's seed recorded on each."""

        samples_natively: ClassVar[bool] = True

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            seed = kwargs.get("seed")
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
            usage = (result.llm_output or {}).get("token_usage") or {}
            for i, gen in enumerate(result.generations):
                gen.generation_info = {**(gen.generation_info or {}), "seed": seed, "index": i}
            result.llm_output = {**(result.llm_output or {}), "prompt_tokens": usage.get("prompt_tokens")}
            return result

    return OpenAISamples, OpenAIRequests


def _not_json(exc: ValueError) -> BadAnswer | None:
    """A BadAnswer for a 2xx answer whose body did not parse (langchain-openai attaches the HTTP response to
    the error), else None."""
    response = getattr(exc, "response", None)
    if response is None or not 200 <= response.status_code < 300:
        return None
    content_type = response.headers.get("content-type", "")
    return BadAnswer(
        str(response.url),
        response.status_code,
        content_type,
        response.content,
        "sent a body that is not JSON",
    )


def _not_a_completion(seen: Any, content_type: str, url: str) -> BadAnswer | None:
    """A BadAnswer for an answer that is not a chat completion (a web page; JSON without ``choices``)."""
    choices = seen.get("choices") if isinstance(seen, dict) else None
    if isinstance(choices, list) and all(isinstance(c, dict) for c in choices):
        return None
    body = seen if isinstance(seen, str) else json.dumps(seen, default=str)
    kind = (
        f"sent {content_type or 'a body without a content type'}, not JSON"
        if isinstance(seen, str)
        else "JSON without a `choices` list"
    )
    return BadAnswer(url, 200, content_type, body.encode(), kind)


def build_openai(
    config: OpenAIAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:
    check = _require(check_openai(config))
    style = config.style or "chat"
    samples_class, requests_class = _openai_classes()
    cls = samples_class if config.native_n else requests_class
    sampling = config.sampling()

    def member(url: str) -> BaseChatModel:
        return cls(
            model=config.model,
            base_url=url,
            api_key=_api_key(config),
            temperature=sampling["temperature"],
            top_p=sampling["top_p"],
            max_tokens=sampling["max_tokens"],
            stop=config.stop_for(style),
            timeout=config.timeout,
            max_retries=0,  # retries: our wrapper
            extra_body={
                "top_k": config.top_k,
                "min_p": config.min_p,
                "repeat_penalty": config.repeat_penalty,  # llama.cpp's name
                "repetition_penalty": config.repeat_penalty,  # vLLM's name
            },
        )

    chat = _pooled(config, check, member)
    return _server_agent(
        config,
        chat,
        check,
        query=query,
        style=style,
        policy=policy,
        samples="one request with n = L" if config.native_n else "L requests",
    )


# -- Ollama ---------------------------------------------------------------------------------------------------


def check_ollama(config: OllamaAgentConfig, base: Path | None = None) -> Check:
    """Each endpoint of the agent's pool: reachable, with the model pulled (:func:`_pool_check` for several)."""
    return _pool_check(config, [_check_ollama_at(config, url) for url in config.endpoints])


def _check_ollama_at(config: OllamaAgentConfig, url: str) -> Check:
    try:
        tags = http_json(f"{url}/api/tags", timeout=min(config.timeout, 10.0))
        models = {
            m.get("name") or m.get("model"): m for m in expect(f"{url}/api/tags", tags, "models", "models")
        }
    except BadAnswer as exc:
        return bad_answer(config, url, exc, "Ollama's API listing its models at /api/tags")
    except OSError as exc:
        return unreachable(config, url, exc, "start Ollama (`ollama serve`, or set OLLAMA_HOST)")
    found = config.model in models or f"{config.model}:latest" in models
    if not found:
        return Check(
            config.name,
            "ollama",
            url,
            True,
            False,
            detail=f"has {sorted(map(str, models))}",
            fix=f"model {config.model!r} is not pulled: run `ollama pull {config.model}`",
        )
    entry = models.get(config.model) or models[f"{config.model}:latest"]
    context = None
    try:
        shown = http_json(f"{url}/api/show", {"model": config.model}, timeout=min(config.timeout, 10.0))
        context = next(
            (v for k, v in (shown.get("model_info") or {}).items() if k.endswith(".context_length")),
            None,
        )
    except (OSError, BadAnswer):
        pass  # /api/show is optional for the servers that speak Ollama's API
    return Check(
        config.name,
        "ollama",
        url,
        True,
        True,
        context,
        detail=f"model {config.model!r}",
        pins={"digest": entry.get("digest"), "details": entry.get("details"), "base_url": url},
    )


@functools.cache
def _ollama_class() -> type[BaseChatModel]:
    """ChatOllama under the backend contract (its defaults: one sample per request, seeds s + l)."""
    import httpx
    from langchain_ollama import ChatOllama

    class OllamaChat(ChatBackend, ChatOllama):
        """Ollama has no ``n``: L requests with seeds s + l. Its client reads each line of the answer as JSON:
        a line that is not (a web page) means something else answers at base_url."""

        transient_errors: ClassVar[tuple[type[BaseException], ...]] = (httpx.TransportError,)
        answer_errors: ClassVar[tuple[type[BaseException], ...]] = (json.JSONDecodeError,)

    return OllamaChat


def build_ollama(
    config: OllamaAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:
    check = _require(check_ollama(config))
    style = config.style or "chat"
    sampling = config.sampling()

    def member(url: str) -> BaseChatModel:
        return _ollama_class()(
            model=config.model,
            base_url=url,
            temperature=sampling["temperature"],
            top_p=sampling["top_p"],
            top_k=sampling["top_k"],
            repeat_penalty=sampling["repeat_penalty"],
            num_predict=sampling["max_tokens"],
            num_ctx=config.num_ctx,
            stop=config.stop_for(style),
            keep_alive=config.keep_alive,
            client_kwargs={"timeout": config.timeout},
        )

    chat = _pooled(config, check, member)
    return _server_agent(
        config,
        chat,
        check,
        query=query,
        style=style,
        policy=policy,
        samples=f"L requests, at most {config.concurrency} in flight, seeds s + l",
    )


# -- shared -----------------------------------------------------------------------------------------------------


def _require(check: Check) -> Check:
    """Setup stops here, before any folder exists, when a server agent cannot run."""
    if not check.ok:
        raise SetupError(
            f"agent {check.agent!r} ({check.backend} at {check.endpoint}): {check.detail}", fix=check.fix
        )
    return check


def _pool_check(config, checks: list[Check]) -> Check:
    """One Check for an agent's pool: ready when at least one endpoint is (those that are not start set aside,
    :func:`_pooled`); the manifest pins the first ready endpoint's model and each endpoint's state."""
    if len(checks) == 1:
        return checks[0]
    ready = [c for c in checks if c.ok]
    first = ready[0] if ready else checks[0]
    states = {c.endpoint: ("ready: " if c.ok else "not ready: ") + c.detail for c in checks}
    return Check(
        config.name,
        config.backend,
        ", ".join(config.endpoints),
        bool(ready) or first.reachable,
        True if ready else first.model_found,
        first.context,
        detail=f"{len(ready)} of {len(checks)} endpoints ready"
        + ("" if len(ready) == len(checks) else f" ({'; '.join(f'{u}: {d}' for u, d in states.items())})"),
        fix=None if ready else first.fix,
        pins={**first.pins, "base_url": list(config.endpoints), "pool": states},
    )


def _pooled(config, check: Check, member) -> BaseChatModel:
    """The agent's chat model over its pool (:mod:`lwd.agents.pool`): ``member(url)`` for each endpoint; those
    the check found not ready start set aside."""
    members = [member(url) for url in config.endpoints]
    pool = pool_for(config.backend, config.endpoints, config.concurrency)
    for index, state in enumerate((check.pins.get("pool") or {}).values()):
        if not state.startswith("ready"):
            pool.set_aside(index, state)
    return pooled_class(type(members[0]))(pool=pool, members=members)


def _server_agent(
    config, chat, check: Check, *, query: str, style: str, policy: ContextPolicy, samples: str
) -> Agent:
    """An agent on a server or a pool of servers: the pool limits the requests in flight on each endpoint (all
    its agents together), the check's pins go to the manifest, and its requests are retried per the agent's
    attempts and backoff when every endpoint failed them."""
    reliability = Reliability(
        attempts=config.attempts,
        backoff=config.backoff,
        endpoint=f"{config.backend} at {check.endpoint}",
        fix="start the server again (is it still running?)",
        transient=(*ALWAYS_TRANSIENT, *chat.transient_errors),
        bad_answer=chat.answer_errors,
    )
    return make_agent(
        config,
        chat,
        query=query,
        style=style,
        policy=policy,
        endpoint=None,  # the pool keeps each endpoint's limit
        describe={"base_url": check.endpoint, "context": check.context, **check.pins, "samples": samples},
        reliability=reliability,
        concurrency=config.concurrency,
    )
