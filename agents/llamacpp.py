"""The embedded default backend: llama.cpp in-process (the prebuilt ``xllamacpp`` wheel), as a LangChain chat model.

L samples of one prompt cost one prompt evaluation: a request with ``n = L`` makes llama.cpp process the prompt
once in a parent slot and hand its KV cells to L − 1 child slots (one unified KV cache, so nothing is copied),
then decode all L continuations as one batch. Child l of a request with seed s samples exactly as a single
request with seed s + l does, so every sample has its own seed and can be reproduced alone.

Reproducibility: a resumed run (whose engine starts empty) must sample what an uninterrupted run sampled, so a
request's result may not depend on the requests before it. Two things made it depend on them, both measured:
a partly cached prompt is evaluated in other batch splits (so prompt caching is off), and a parent request
that lands in a different slot than the last one leaves the old prompt's cells occupied, so the new prompt is
laid out elsewhere in the KV cache and attention sums in another order (so every request's parent is pinned to
slot 0, whose old cells llama.cpp clears first). Either changes the rounding, and so the samples.

The engine also listens on a private loopback port for llama.cpp's ``/apply-template`` and ``/tokenize``, which
give exact prompt and response token counts with the model's own chat template and tokenizer.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr
from typing_extensions import override

from lwd.agents.agent import Agent
from lwd.agents.config import ContextPolicy, LlamaCppAgentConfig, SamplingOptions
from lwd.agents.contract import ChatBackend
from lwd.agents.factory import Check, make_agent
from lwd.agents.models import gguf_context_length, resolve_model, sha256_file
from lwd.agents.shared import Shared
from lwd.agents.tracing import ls_params
from lwd.core.errors import BackendError, SetupError

__all__ = ["ChatLlamaCpp", "build_llamacpp", "check_llamacpp"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "chat": "user"}
MAX_PARALLEL = 64
# no prompt cache, the parent always in slot 0: a result independent of earlier requests (module docstring)
REPRODUCIBLE = {
    "cache_prompt": False,
    "id_slot": 0,
}  # llama.cpp slots per engine; more samples are drawn in chunks


class Engine:
    """One llama.cpp server in this process: n_parallel slots over one unified KV cache of n_ctx cells."""

    def __init__(
        self,
        path: str,
        n_ctx: int,
        n_parallel: int,
        n_threads: int,
        alias: str | None = None,
        prompt_cache_mib: int = 0,
        metrics: bool = False,
    ):
        import xllamacpp as xl

        params = xl.CommonParams()
        params.model.path = path
        if alias:
            params.model_alias = {alias}  # the model id /v1/models answers with (a set in this binding)
        params.n_ctx = n_ctx
        params.n_parallel = n_parallel
        params.kv_unified = True  # children share the parent's prompt cells
        # no host-memory prompt cache unless asked (a server that does not promise reproducibility): every
        # request starts from an empty context
        params.cache_ram_mib = prompt_cache_mib
        params.endpoint_metrics = metrics  # /metrics: llama.cpp's counters (prompt tokens evaluated, …)
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.warmup = False
        params.verbosity = -1
        params.port = 0  # a free loopback port, for /tokenize and /apply-template
        params.hostnames = ["127.0.0.1"]
        try:
            self.server = xl.Server(params)
        except RuntimeError as exc:
            raise SetupError(
                f"llama.cpp could not load {path}: {exc}", fix="check that it is a valid .gguf file"
            ) from exc
        self.url = self.server.listening_address
        self.lock = threading.Lock()  # one request at a time: batches never mix requests

    def call(self, kind: Literal["chat", "completion"], body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            handler = (
                self.server.handle_chat_completions if kind == "chat" else self.server.handle_completions
            )
            result = handler(body)
        if isinstance(result, str):
            result = json.loads(result)
        if "error" in result:
            err = result["error"]
            if err.get("type") == "exceed_context_size_error":
                raise BackendError(
                    f"llama.cpp: the prompt ({err.get('n_prompt_tokens', '?')} tokens) exceeds the context "
                    f"({err.get('n_ctx', '?')}): {err.get('message', '')}",
                    fix="raise n_ctx, or lower beta, samples or max_tokens",
                )
            raise BackendError(f"llama.cpp error {err.get('code')}: {err.get('message')}")
        return result

    def http(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}{route}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with _LOOPBACK.open(request, timeout=60) as response:
            return json.loads(response.read())


# our own loopback port: never through an http_proxy from the environment
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# loaded engines, one per (weights, n_ctx, slots, threads): the agents of one model share it (lwd.agents.shared)
ENGINES: Shared[Engine] = Shared()


class ChatLlamaCpp(ChatBackend, SamplingOptions, BaseChatModel):
    """A chat model running a local GGUF file in-process with llama.cpp; ``n`` samples share one prefill.

    ``style="completion"`` is for base (non-instruct) models: the messages are joined into one plain-text
    prompt and sent to the completion endpoint instead of being wrapped in the model's chat template.

    ``invoke(messages)`` returns one sample; ``generate([messages], n=L, seed=s)`` returns L generations whose
    ``generation_info`` holds ``seed`` (s + l), ``finish_reason`` and ``completion_tokens``; ``llm_output`` holds
    the exact ``prompt_tokens``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str = Field(description="path to the .gguf file")
    style: Literal["chat", "completion"] = "chat"
    n_ctx: int = Field(
        default=8192, ge=256, description="KV cache cells shared by the prompt and all samples"
    )
    n_parallel: int = Field(default=8, ge=1, description="samples decoded together (llama.cpp slots)")
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    seed: int = Field(default=0, ge=0, description="seed of sample 0; sample l uses seed + l")
    n: int = Field(default=1, ge=1, description="samples per call")
    stop: list[str] | None = None

    samples_natively: ClassVar[bool] = True  # `n` samples share one prompt evaluation
    counts_tokens: ClassVar[bool] = True  # llama.cpp's own template and tokenizer

    _engine: Engine | None = PrivateAttr(default=None)
    _engine_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llamacpp-embedded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "style": self.style, "n_ctx": self.n_ctx, **self.sampling()}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return ls_params(self, "llamacpp", os.path.basename(self.model_path), stop, **kwargs)

    # -- engine ----------------------------------------------------------------------------------------------

    @property
    def engine_key(self) -> tuple[str, int, int, int]:
        """What the engine is built from: agents whose keys agree share one engine (and its request queue)."""
        return (os.path.realpath(self.model_path), self.n_ctx, self.n_parallel, self.n_threads)

    @property
    def engine(self) -> Engine:
        """The llama.cpp engine, loaded on first use (about a second for the packaged models) and shared with
        every agent of the same weights and settings (:data:`ENGINES`)."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = ENGINES.acquire(
                    self.engine_key,
                    lambda: Engine(self.model_path, self.n_ctx, self.n_parallel, self.n_threads),
                )
            return self._engine

    @override
    def load(self) -> None:
        """Load the model now (it is otherwise loaded on first use); a SetupError for a bad file."""
        _ = self.engine

    @override
    def close(self) -> None:
        """Let go of the engine; the last agent on it frees it (model weights and KV cache)."""
        with self._engine_lock:
            if self._engine is not None:
                ENGINES.release(self.engine_key)
            self._engine = None

    # -- token counts ----------------------------------------------------------------------------------------

    def render(self, messages: Sequence[BaseMessage]) -> str:
        """The exact text the model reads: the chat template applied, or the plain completion prompt."""
        if self.style == "completion":
            return "\n\n".join(str(m.content) for m in messages)
        return self.engine.http("/apply-template", {"messages": _to_dicts(messages)})["prompt"]

    @override
    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """Exact prompt length in tokens, as llama.cpp will evaluate it."""
        tokens = self.engine.http(
            "/tokenize",
            {"content": self.render(messages), "add_special": True, "parse_special": self.style == "chat"},
        )
        return len(tokens["tokens"])

    @override
    def prompt_budget(self, n: int) -> int:
        """Tokens left for the prompt when n samples of up to max_tokens share the KV cache with it."""
        return self.n_ctx - min(n, self.n_parallel) * self.max_tokens

    def get_num_tokens(self, text: str) -> int:
        return len(self.engine.http("/tokenize", {"content": text, "add_special": False})["tokens"])

    # -- generation ------------------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        n = int(kwargs.pop("n", self.n))
        seed = int(kwargs.pop("seed", self.seed))
        stop = stop if stop is not None else self.stop
        started = time.perf_counter()
        generations: list[ChatGeneration] = []
        prompt_tokens = 0
        timings: list[dict] = []  # llama.cpp's per request: prompt_n (tokens evaluated), predicted_n, ms
        for first in range(0, n, self.n_parallel):  # sample index i always gets seed + i
            count = min(self.n_parallel, n - first)
            result = self._request(messages, count, seed + first, stop, kwargs)
            prompt_tokens = int(result.get("usage", {}).get("prompt_tokens", 0))
            timings.append(result.get("timings", {}))
            for choice in sorted(result["choices"], key=lambda c: c["index"]):
                index = first + int(choice["index"])
                text = choice["message"]["content"] if self.style == "chat" else choice["text"]
                info = {
                    "seed": seed + index,
                    "finish_reason": choice.get("finish_reason"),
                    "completion_tokens": self.get_num_tokens(text) if text else 0,
                    "index": index,
                }
                generations.append(
                    ChatGeneration(
                        message=AIMessage(content=text, response_metadata=info), generation_info=info
                    )
                )
        return ChatResult(
            generations=generations,
            llm_output={
                "prompt_tokens": prompt_tokens,
                "model_path": self.model_path,
                "seconds": time.perf_counter() - started,
                "timings": timings,
            },
        )

    def _request(
        self,
        messages: list[BaseMessage],
        count: int,
        seed: int,
        stop: list[str] | None,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {**self.sampling(), **extra, "n": count, "seed": seed, **REPRODUCIBLE}
        if stop:
            body["stop"] = stop
        if self.style == "chat":
            body["messages"] = _to_dicts(messages)
            return self.engine.call("chat", body)
        body["prompt"] = self.render(messages)
        return self.engine.call("completion", body)

    def _combine_llm_outputs(self, llm_outputs: list[dict | None]) -> dict:
        outputs = [o for o in llm_outputs if o]
        return outputs[0] if len(outputs) == 1 else {"runs": outputs}

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:  # pragma: no cover - not offered
        raise NotImplementedError("ChatLlamaCpp does not stream; use invoke or generate")


def _to_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]


# -- the backend's factory and checker (named by LlamaCppAgentConfig) -------------------------------------------


def build_llamacpp(
    config: LlamaCppAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:
    model = resolve_model(config.model, base)
    style = config.style or model.style or "chat"
    chat = ChatLlamaCpp(
        model_path=str(model.path),
        style=style,
        n_ctx=config.n_ctx,
        n_parallel=min(samples, MAX_PARALLEL),
        n_threads=config.threads or os.cpu_count() or 1,
        stop=config.stop_for(style),
        **config.sampling(),
    )
    return make_agent(
        config,
        chat,
        query=query,
        style=style,
        policy=policy,
        endpoint="local-cpu",
        describe={
            "path": str(model.path),
            "sha256": sha256_file(model.path),
            "n_ctx": config.n_ctx,
            "n_parallel": chat.n_parallel,
            "threads": chat.n_threads,
        },
    )


def check_llamacpp(config: LlamaCppAgentConfig, base: Path | None = None) -> Check:
    """The model file is there; its trained context and the configured window."""
    try:
        model = resolve_model(config.model, base)
    except SetupError as exc:
        return Check(
            config.name, "llamacpp", "in-process", True, False, detail=exc.message.split(":")[0], fix=exc.fix
        )
    trained = gguf_context_length(model.path)
    return Check(
        config.name,
        "llamacpp",
        "in-process",
        True,
        True,
        min(config.n_ctx, trained or config.n_ctx),
        detail=f"{model.path.name} (trained context {trained}, n_ctx {config.n_ctx})",
        pins={"path": str(model.path)},
    )
