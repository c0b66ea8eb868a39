"""A backend from another package: declared under the entry point group ``lwd.backends``, found by name, its
keys validated by its own config class, listed by `lwd backends`, and run through `lwd run` — no edit to lwd."""

import sys
import textwrap

import pytest
from conftest import read_rows, write_scenario
from typer.testing import CliRunner

from lwd.agents import config as agent_config
from lwd.cli import app
from lwd.core.errors import ConfigError
from lwd.run.scenario import load_scenario

PLUGIN = textwrap.dedent('''
    """A lab's own inference service, as lwd sees it: a config class and a factory."""
    from typing import ClassVar, Literal

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from pydantic import Field

    from lwd.agents.config import AgentBase
    from lwd.agents.contract import ChatBackend
    from lwd.agents.factory import Check, make_agent


    class EchoConfig(AgentBase):
        factory: ClassVar[str] = "lwd_echo_backend:build"
        checker: ClassVar[str] = "lwd_echo_backend:check"
        about: ClassVar[str] = "answers with its motto and the seed (a plugin for the tests)"

        backend: Literal["echo"] = "echo"
        model: str = "echo"
        motto: str = Field(default="Bitcoin echoes", description="what every answer says")


    class Echo(ChatBackend, BaseChatModel):
        motto: str
        samples_natively: ClassVar[bool] = True

        @property
        def waits(self):
            return False

        @property
        def _llm_type(self):
            return "echo"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            n, seed = kwargs.get("n", 1), kwargs.get("seed", 0)
            out = [
                ChatGeneration(message=AIMessage(content=f"{self.motto} {seed + i}."), generation_info={"seed": seed + i})
                for i in range(n)
            ]
            return ChatResult(generations=out)


    def build(config, *, query, samples, base, policy):
        chat = Echo(motto=config.motto)
        return make_agent(
            config, chat, query=query, style="chat", policy=policy, endpoint=None, describe={"motto": config.motto}
        )


    def check(config, base=None):
        return Check(config.name, "echo", "in-process", True, True, detail="always there")
''')

SCENARIO = """
description = "two agents on a plugin backend, one on the fake"
[network]
beta = 0.5
samples = 2
rounds = 1
[embedder]
model = "hash"
[[agents]]
name = "e{i}"
count = 2
backend = "echo"
motto = "Bitcoin sings"
[[agents]]
name = "f"
backend = "fake"
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "lwd_echo_backend.py").write_text(PLUGIN)
    dist = tmp_path / "lwd_echo_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lwd-echo-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lwd.backends]\necho = lwd_echo_backend:EchoConfig\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("lwd_echo_backend", None)
    agent_config.BACKENDS.pop("echo")


def test_a_backend_from_an_installed_package_runs_a_round(plugin, tmp_path):
    assert "echo" in agent_config.backends()
    listing = " ".join(CliRunner().invoke(app, ["backends"]).output.split())
    assert "echo yes" in listing and "a plugin for the tests" in listing
    path = write_scenario(tmp_path, SCENARIO)
    assert [type(a).__name__ for a in load_scenario(path).scenario.agents] == ["EchoConfig"] * 2 + [
        "FakeAgentConfig"
    ]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    echoed = [r for r in read_rows(out / "responses.csv") if r["agent"].startswith("e")]
    assert len(echoed) == 2 * 2 * 2  # two agents, two rounds (0 and 1), two samples
    assert all(r["clean"].startswith("Bitcoin sings ") for r in echoed)
    assert '"motto": "Bitcoin sings"' in (out / "manifest.json").read_text()


def test_a_plugin_table_is_checked_by_its_own_config_class(plugin, tmp_path):
    result = CliRunner().invoke(
        app, ["run", str(write_scenario(tmp_path, SCENARIO.replace("motto =", "mottto ="))), "-q"]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "`agents[0].mottto`: unknown key; did you mean `motto`?" in said


def test_an_unknown_backend_lists_the_installed_ones(plugin, tmp_path):
    result = CliRunner().invoke(
        app, ["run", str(write_scenario(tmp_path, SCENARIO.replace('"echo"', '"ehco"'))), "-q"]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "`agents[0].backend`" in said and "llamacpp" in said and "echo" in said and "'ehco'" in said


def test_an_entry_point_that_is_not_a_config_class_is_refused(tmp_path, monkeypatch):
    dist = tmp_path / "lwd_bad_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lwd-bad-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lwd.backends]\nbad = textwrap:dedent\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="is not an agent config class"):
        agent_config.backend_config("bad")
