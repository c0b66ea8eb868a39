"""Prompts laid out for prefix caching: `layout = "shared-first"` puts what every agent shares (the query) before
what differs (the persona, then the posts); the paper's layout — the default — is unchanged."""

import os

import pytest
from conftest import FAKE_SCENARIO, write_scenario
from langchain_core.messages import HumanMessage, SystemMessage
from servers import SERVED, get_text, llama_server

from lwd.agents.factory import prompt_for
from lwd.agents.prompt import CHAT_TEMPLATE, PAPER_QUERY
from lwd.core.errors import ConfigError
from lwd.run.llm import start_run
from lwd.run.scenario import load_scenario

PERSONAS = ("You are a skeptical economist.", "You run a Bitcoin mining business.")
POSTS = (["Bitcoin is digital gold.", "It will crash."], ["Fees are too high."])


def _agents(tmp_path, layout: str):
    tables = "".join(
        f'\n[[agents]]\nname = "a{i}"\nbackend = "fake"\nsystem_prompt = "{p}"\nlayout = "{layout}"\n'
        for i, p in enumerate(PERSONAS)
    )
    text = FAKE_SCENARIO.split("[[agents]]")[0] + tables
    return load_scenario(write_scenario(tmp_path, text, f"{layout}.toml")).scenario.agents


def _common(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def test_shared_first_puts_the_query_then_the_persona_before_the_posts(tmp_path):
    specs = [prompt_for(a, PAPER_QUERY, "chat") for a in _agents(tmp_path, "shared-first")]
    texts = []
    for spec, persona, posts in zip(specs, PERSONAS, POSTS, strict=True):
        (message,) = spec.messages(posts)  # one user message: no system message, which templates put first
        assert isinstance(message, HumanMessage)
        text = message.content
        assert text.index(PAPER_QUERY) == 0 < text.index(persona) < text.index(posts[0])
        texts.append(text)
    assert _common(*texts) >= len(PAPER_QUERY)  # two personas, other posts: the query is still shared


def test_the_papers_layout_is_unchanged_by_default(tmp_path):
    for agent, persona, posts in zip(_agents(tmp_path, "paper"), PERSONAS, POSTS, strict=True):
        spec = prompt_for(agent, PAPER_QUERY, "chat")
        assert spec.template == CHAT_TEMPLATE and spec.layout == "paper"
        system, user = spec.messages(posts)
        assert isinstance(system, SystemMessage) and system.content == persona
        assert user.content == CHAT_TEMPLATE.format(
            posts="\n".join(f"- {p}" for p in posts), query=PAPER_QUERY
        )


def test_completion_style_shared_first_keeps_the_answer_cue_last(tmp_path):
    (agent, _) = _agents(tmp_path, "shared-first")
    spec = prompt_for(agent, PAPER_QUERY, "completion")
    (message,) = spec.messages(POSTS[0])
    assert message.content.startswith(PAPER_QUERY) and message.content.endswith("One-sentence answer:")


def test_shared_first_with_a_template_of_ones_own_is_refused_with_the_fix(tmp_path):
    text = FAKE_SCENARIO.replace(
        'name = "ann"', 'name = "ann"\nlayout = "shared-first"\nprompt = "{query} then {posts}"'
    )
    with pytest.raises(ConfigError, match=r"agents\[0\].*shared-first.*drop `prompt`"):
        load_scenario(write_scenario(tmp_path, text))
    with pytest.raises(ConfigError, match="paper.*shared-first"):
        load_scenario(
            write_scenario(tmp_path, FAKE_SCENARIO.replace('name = "ann"', 'name = "ann"\nlayout = "mine"'))
        )


def _prompt_counters(root: str) -> dict[str, float]:
    lines = get_text(f"{root}/metrics").splitlines()
    return {
        name.split(":")[1]: float(value)
        for name, _, value in (line.partition(" ") for line in lines)
        if name in ("llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total")
    }


@pytest.mark.real
def test_on_a_server_that_caches_prefixes_shared_first_reuses_more_of_each_prompt(tmp_path):
    """Four real agents (two personas × 2) on `lwd.agents.serve --concurrent`, one round each way, a fresh
    server each: the server's own counters of prompt tokens reused from its cache."""
    seen = {}
    for layout in ("paper", "shared-first"):
        tables = "".join(
            f'\n[[agents]]\nname = "a{i}"\nbackend = "openai"\nmodel = "{SERVED}"\nbase_url = "{{url}}"\n'
            f'system_prompt = "{PERSONAS[i % 2]}"\nlayout = "{layout}"\nmax_tokens = 4\nconcurrency = 1\n'
            for i in range(4)
        )
        head = 'description = "d"\nseed = 1\n[network]\nbeta = 0.5\nsamples = 1\nrounds = 1\n[embedder]\nmodel = "hash"\n'
        with llama_server(parallel=2, options=("--concurrent",)) as server:
            path = write_scenario(tmp_path, head + tables.replace("{url}", server.url), f"{layout}.toml")
            start_run(load_scenario(path), tmp_path / layout)
            seen[layout] = _prompt_counters(server.url.removesuffix("/v1"))
    assert seen["shared-first"]["prompt_tokens_cached_total"] > seen["paper"]["prompt_tokens_cached_total"]
