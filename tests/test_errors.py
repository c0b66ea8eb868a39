"""One error path: every user error is an LwdError, printed in one or two lines with exit code 2 and no traceback;
anything else is a bug and keeps its traceback."""

import pytest
from conftest import FAKE_SCENARIO, write_scenario
from typer.testing import CliRunner

from lwd.cli import app
from lwd.core.errors import ConfigError, LwdError, MissingExtraError, SetupError
from lwd.core.extras import require

runner = CliRunner()


def test_an_error_says_what_and_how_to_fix_it():
    assert str(LwdError("the model file is missing", fix="give a path.")) == (
        "the model file is missing. Fix: give a path."
    )
    assert str(LwdError("no fix known")) == "no fix known"
    invalid = ConfigError.invalid("scenario", "my.toml", ["`a`: bad.", "`b`: worse."])
    assert str(invalid) == "Invalid scenario my.toml:\n  - `a`: bad.\n  - `b`: worse."
    assert invalid.problems == ["`a`: bad.", "`b`: worse."] and invalid.source == "my.toml"


def test_a_missing_extra_names_the_pip_extra(monkeypatch):
    with pytest.raises(MissingExtraError) as info:
        require("tui", "`lwd tui`", modules=("surely_not_installed_module",))
    assert "surely_not_installed_module" in str(info.value)
    assert info.value.fix == "pip install 'llm-web-dynamics[tui]'"
    require("llm", "`lwd run`", modules=("json",))  # present: nothing happens


def test_user_errors_are_one_message_and_exit_2_without_a_traceback(tmp_path):
    bad = write_scenario(tmp_path, FAKE_SCENARIO.replace("samples = 4", "samples = 0"))
    result = runner.invoke(app, ["run", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.startswith("error: Invalid scenario")
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    gmm = runner.invoke(app, ["gmm", "no-such-scenario"])
    assert gmm.exit_code == 2 and "no shipped scenario named 'no-such-scenario'" in gmm.output


def test_a_user_error_after_the_run_started_says_how_to_continue(tmp_path):
    # 480 words of context: round 0's posts fit, round 1's do not, and the policy is "error"
    text = (
        FAKE_SCENARIO.replace("copy_rate = 0.2", "copy_rate = 0.2\nn_ctx = 480")
        + '\n[context]\npolicy = "error"\n'
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(write_scenario(tmp_path, text)), "-o", str(out), "-q"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "agent 'cy'" in said and "Fix: raise the agent's n_ctx" in said
    assert f"continue with `lwd resume {out}`" in said and "Traceback" not in result.output


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import lwd.run.llm

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in lwd")

    monkeypatch.setattr(lwd.run.llm, "start_run", broken)
    result = runner.invoke(
        app, ["run", str(write_scenario(tmp_path, FAKE_SCENARIO)), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def test_every_error_class_of_lwd_is_an_lwd_error():
    import lwd.core.errors as errors

    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(c, LwdError) for c in classes)
    assert issubclass(MissingExtraError, SetupError)
