"""Shared fixtures: scenario files for the fake backend (fast) and the packaged models (real)."""

import csv
import os
import re
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FAKE_SCENARIO = textwrap.dedent("""
    description = "three fake agents on a real Chroma store"
    seed = 3

    [network]
    beta = 0.5
    samples = 4
    rounds = 3

    [embedder]
    model = "hash"

    [[agents]]
    name = "ann"
    backend = "fake"

    [[agents]]
    name = "bob"
    backend = "fake"
    system_prompt = "a contrarian"

    [[agents]]
    name = "cy"
    backend = "fake"
    copy_rate = 0.2
""")


@pytest.fixture
def fake_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "fake.toml"
    path.write_text(FAKE_SCENARIO)
    return path


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def read_rows(path: Path, drop: tuple[str, ...] = ()) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(fh)]


def offline_page(path: Path, charts: int) -> str:
    """report.html: one page that fetches nothing (plotly's JavaScript inlined) and holds ``charts`` charts."""
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]*\s(src|href)=", page), "the page fetches something"
    assert "Plotly.newPlot" in page and page.count('class="plotly-graph-div"') == charts
    return page
