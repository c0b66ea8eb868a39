"""The layer contract (pyproject.toml [tool.importlinter]): foundation -> domain -> run -> report -> interfaces,
and no import cycles inside any package, checked by import-linter on the code as it would be installed."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def installed_layout(target: Path) -> Path:
    """The lwd package assembled as pip installs it (lwd/agents/… from agents/ …), so import-linter sees every
    module: in an editable install the mapped folders live outside lwd/ and are not found by walking it."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(mapping.items()):  # "lwd" first, then its sub-packages
        shutil.copytree(
            ROOT / folder,
            target.joinpath(*package.split(".")),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
    return target


def lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the assembled copy comes before the editable finder
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return installed_layout(tmp_path_factory.mktemp("installed"))


def test_the_linter_sees_the_whole_package(tree):
    found = {p.relative_to(tree).as_posix() for p in tree.rglob("*.py")}
    assert {
        "lwd/core/errors.py",
        "lwd/agents/agent.py",
        "lwd/metrics/registry.py",
        "lwd/run/scheduler.py",
    } <= found


def test_layers_are_respected_and_there_are_no_cycles(tree):
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tree, tmp_path):
    broken = installed_layout(tmp_path / "broken")
    errors = broken / "lwd" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom lwd.run import kinds  # noqa\n")  # foundation -> run
    result = lint(broken)
    assert result.returncode != 0
    assert "lwd.core.errors -> lwd.run.kinds" in result.stdout


def test_a_cycle_inside_a_package_breaks_the_contract(tmp_path):
    broken = installed_layout(tmp_path / "cycle")
    records = broken / "lwd" / "agents" / "records.py"
    records.write_text(
        records.read_text() + "\nfrom lwd.agents import agent  # noqa\n"
    )  # agent imports records
    result = lint(broken)
    assert result.returncode != 0 and "cycle" in result.stdout.lower()


def init_cycles(tree: Path) -> list[str]:
    """Cycles through a package's own ``__init__``, which the siblings contract cannot see: a package imports a
    child (directly or through others) and the child imports the package back (``from lwd.cli import app``
    inside lwd.cli.gmm while lwd/cli/__init__.py imports lwd.cli.gmm)."""
    code = (
        "import sys, grimp\n"
        "graph = grimp.build_graph('lwd')\n"
        "for package in sorted(m for m in graph.modules if graph.find_children(m)):\n"
        "    for child in sorted(graph.find_descendants(package)):\n"
        "        if graph.direct_import_exists(importer=child, imported=package) and graph.chain_exists(\n"
        "            importer=package, imported=child):\n"
        "            print(f'{package} -> {child} -> {package}')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_no_package_imports_a_child_that_imports_it_back(tree):
    assert init_cycles(tree) == []


def test_a_cycle_through_a_package_init_is_seen(tmp_path):
    planted = installed_layout(tmp_path / "init-cycle")
    gmm = planted / "lwd" / "cli" / "gmm.py"
    gmm.write_text(gmm.read_text() + "\nfrom lwd.cli import app as _app  # noqa\n")  # __init__ imports gmm
    assert "lwd.cli -> lwd.cli.gmm -> lwd.cli" in init_cycles(planted)
