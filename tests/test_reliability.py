"""The reliability wrappers (fast, with fakes): retries, backoff, the endpoint limit, and bad answers costing
one sample rather than the run. The same behaviour against real servers is in test_backends.py."""

import threading
import time
from typing import Any

import httpx
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from lwd.agents.agent import Agent
from lwd.agents.contract import ChatBackend
from lwd.agents.prompt import PromptSpec
from lwd.agents.reliability import Reliability, Usage, guarded
from lwd.core.errors import BackendError
from lwd.core.retry import ALWAYS_TRANSIENT, transient


class Flaky:
    """Fails the first ``failures`` calls with ``error``, then answers."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_transient_failures_are_retried_with_backoff():
    sleeps: list[float] = []
    usage = Usage()
    call = Flaky(2, ConnectionRefusedError("refused"))
    assert guarded(call, Reliability(attempts=3, backoff=0.5), "a", usage=usage, sleep=sleeps.append) == "ok"
    assert call.calls == 3 and sleeps == [0.5, 1.0] and usage.retries == 2


def test_an_endpoint_that_stays_down_is_a_clear_error():
    call = Flaky(10, httpx.ConnectError("connection refused"))
    policy = Reliability(
        attempts=3,
        backoff=0,
        endpoint="openai at http://127.0.0.1:9/v1",
        fix="start the server",
        transient=(*ALWAYS_TRANSIENT, httpx.TransportError),
    )
    with pytest.raises(BackendError) as info:
        guarded(call, policy, "smol", sleep=lambda s: None)
    message = str(info.value)
    for words in ("agent 'smol'", "http://127.0.0.1:9/v1", "3 time(s)", "start the server"):
        assert words in message
    assert call.calls == 3


def test_permanent_errors_are_not_retried():
    call = Flaky(1, ValueError("400: unknown parameter"))
    with pytest.raises(ValueError):
        guarded(call, Reliability(attempts=5), "a", sleep=lambda s: None)
    assert call.calls == 1


def test_an_http_refusal_stops_at_once_with_the_status():
    refused = type("NotFoundError", (Exception,), {"status_code": 404})("model 'x' not found")
    call = Flaky(10, refused)
    with pytest.raises(BackendError) as info:
        guarded(
            call, Reliability(attempts=5, endpoint="openai at http://127.0.0.1:9/v1"), "a", sleep=lambda s: 0
        )
    assert call.calls == 1
    assert (
        "HTTP 404" in str(info.value) and "not retried" in str(info.value) and "model 'x'" in str(info.value)
    )


def _openai_errors():
    import openai

    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    return {
        "APIConnectionError": openai.APIConnectionError(request=request),
        "APITimeoutError": openai.APITimeoutError(request=request),
        "RateLimitError": openai.RateLimitError(
            "slow down", response=httpx.Response(429, request=request), body=None
        ),
        "InternalServerError": openai.InternalServerError(
            "oops", response=httpx.Response(503, request=request), body=None
        ),
        "BadRequestError": openai.BadRequestError(
            "no", response=httpx.Response(400, request=request), body=None
        ),
    }


@pytest.mark.parametrize(
    "error,expected",
    [
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("cut"), True),
        ("APIConnectionError", True),
        ("APITimeoutError", True),
        ("RateLimitError", True),
        ("InternalServerError", True),
        ("BadRequestError", False),
        (type("Anything", (Exception,), {"status_code": 503})(), True),
        (type("Anything", (Exception,), {"status_code": 501})(), False),  # not implemented: for good
        (type("Anything", (Exception,), {"status_code": 408})(), True),
        (type("RateLimitError", (Exception,), {})(), False),  # a name is not a type: never matched by name
        (ValueError("bad"), False),
    ],
)
def test_which_failures_are_transient_for_the_openai_backend(error, expected):
    from lwd.agents.servers import _openai_classes

    if isinstance(error, str):
        error = _openai_errors()[error]
    declared = _openai_classes()[0].transient_errors
    assert transient(error, (*ALWAYS_TRANSIENT, *declared)) is expected


def test_an_answer_that_is_not_the_api_stops_at_once_naming_the_endpoint():
    from lwd.agents.http import BadAnswer

    call = Flaky(
        10, BadAnswer("http://127.0.0.1:9/v1/chat/completions", 200, "text/html", b"<html>hi", "not JSON")
    )
    policy = Reliability(attempts=5, endpoint="openai at http://127.0.0.1:9/v1", bad_answer=(BadAnswer,))
    with pytest.raises(BackendError) as info:
        guarded(call, policy, "a", sleep=lambda s: None)
    assert (
        call.calls == 1
        and "answered, but not with its API" in str(info.value)
        and "<html>hi" in str(info.value)
    )


def test_the_endpoint_limit_bounds_requests_in_flight():
    limiter = threading.BoundedSemaphore(2)
    active, peak, lock = [0], [0], threading.Lock()

    def call():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return "ok"

    threads = [threading.Thread(target=guarded, args=(call, Reliability(), "a", limiter)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


class Moody(ChatBackend, BaseChatModel):
    """A chat model without native `n` (the contract's defaults): seed 100 fails for good, 101 answers garbage,
    others answer."""

    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "moody"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        if self.seed == 100:
            raise ValueError("400 Bad Request: the server could not parse the sampling options")
        text = "!!! ???" if self.seed == 101 else f"Bitcoin will do well (seed {self.seed})."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def test_a_bad_answer_costs_one_sample_not_the_run():
    agent = Agent("moody", Moody(), PromptSpec(), max_retries=1, concurrency=3)
    reply = agent.reply(["a post"], samples=4, seed=100)  # samples 0..3 have seeds 100..103
    first, second, third, fourth = reply.responses
    assert third.clean.startswith("Bitcoin") and fourth.clean.endswith("(seed 103).")
    # sample 0 (seed 100) failed for good; its regeneration (seed 100 + 4) answered
    assert first.attempts == 2 and not first.failed and first.seed == 104
    # sample 1 (garbage) was regenerated with seed 105 and answered
    assert second.attempts == 2 and not second.failed and second.seed == 105
    assert reply.regenerations == 2


def test_a_sample_that_keeps_failing_is_recorded_with_its_error():
    agent = Agent("moody", Moody(), PromptSpec(), max_retries=0)
    first = agent.reply(["a post"], samples=2, seed=100).responses[0]
    assert first.failed and first.clean == "" and "400 Bad Request" in first.error


class Undeclared(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "undeclared"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        raise AssertionError("never called")


def test_a_chat_model_must_declare_the_backend_contract():
    with pytest.raises(TypeError, match="must inherit lwd.agents.contract.ChatBackend"):
        Agent("plain", Undeclared(), PromptSpec())
