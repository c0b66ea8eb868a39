"""LangChain's standard unit tests (langchain-tests) for every chat model lwd defines."""

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests

from lwd.agents.hf import ChatHF
from lwd.agents.llamacpp import ChatLlamaCpp
from lwd.agents.models import resolve_model
from lwd.testing import FakeChatModel


class TestChatLlamaCppStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatLlamaCpp]:
        return ChatLlamaCpp

    @property
    def chat_model_params(self) -> dict:
        return {"model_path": str(resolve_model("smollm2-135m-instruct").path), "temperature": 0.5}


class TestChatHFStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatHF]:
        return ChatHF

    @property
    def chat_model_params(self) -> dict:
        return {"model_dir": "/models/any-hf-folder", "temperature": 0.5}  # loaded on first use only


class TestFakeChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[FakeChatModel]:
        return FakeChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"persona": "tester"}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
