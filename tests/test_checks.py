"""`lwd backends check` for the local backends: what is found, and a fix for what is not (no server needed)."""

from lwd.agents.config import FakeAgentConfig, HFAgentConfig, LlamaCppAgentConfig
from lwd.agents.registry import check_agent


def test_llamacpp_check_finds_packaged_models_and_reports_their_context():
    check = check_agent(LlamaCppAgentConfig(name="s", model="smollm2-135m-instruct", n_ctx=4096))
    assert check.ok and check.context == 4096  # min(configured, trained 8192)
    assert "trained context 8192" in check.detail
    missing = check_agent(LlamaCppAgentConfig(name="m", model="weights/none.gguf"))
    assert missing.model_found is False and not missing.ok and missing.fix


def test_hf_check_reports_folders_repos_and_files_without_loading_them(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"max_position_embeddings": 2048}')
    assert check_agent(HFAgentConfig(name="f", model=str(folder))).context == 2048
    gguf = check_agent(HFAgentConfig(name="g", model="smollm2-135m-instruct"))
    assert gguf.ok and gguf.context == 8192 and "dequantised once" in gguf.detail
    repo = check_agent(HFAgentConfig(name="r", model="org/not-in-the-cache"))
    assert repo.model_found is False and "hf download org/not-in-the-cache" in repo.fix
    file = check_agent(HFAgentConfig(name="x", model="missing.gguf"))
    assert file.model_found is False and file.fix


def test_fake_check_is_always_ready():
    assert check_agent(FakeAgentConfig(name="f")).ok
