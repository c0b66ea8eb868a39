"""In a real browser (headless Chromium from the distribution's packages; `.ci/run` installs it when missing):
report.html loads offline with no console errors and draws its charts, and `lwd tui --serve` shows a live run
whose rounds complete. Skipped, with the reason, where no Chromium can be found."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKE_SCENARIO, write_scenario
from PIL import Image
from servers import free_port, get_json  # noqa: F401 - get_json keeps the helper module's proxy-free opener
from typer.testing import CliRunner

from lwd.cli import app

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (`apt-get install chromium`)")


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def drawn(png: Path) -> int:
    """How many colours a screenshot holds (a blank page: one or two)."""
    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    out = tmp / "run"
    result = CliRunner().invoke(app, ["run", str(write_scenario(tmp, FAKE_SCENARIO)), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_report_html_loads_offline_without_console_errors_and_draws_its_charts(run_folder, tmp_path):
    page = (run_folder / "report.html").as_uri()
    dom = chromium("--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not [line for line in console if "error" in line.lower()], console
    assert dom.stdout.count('class="main-svg"') >= 3  # plotly drew each chart (it adds its SVGs on load)
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", "--virtual-time-budget=10000", page)
    assert drawn(shot) > 50


def test_the_tui_served_to_a_browser_runs_rounds(tmp_path):
    scenario = write_scenario(tmp_path, FAKE_SCENARIO.replace("rounds = 3", "rounds = 2"))
    out = tmp_path / "served"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lwd", "tui", str(scenario), "--out", str(out), "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        shot = tmp_path / "tui.png"
        while True:  # the page is there once the server listens; the run starts when a browser opens it
            taken = chromium(
                f"--screenshot={shot}", "--window-size=1200,800", "--virtual-time-budget=20000", f"http://127.0.0.1:{port}"
            )
            if taken.returncode == 0 and shot.exists():
                break
            assert time.time() < deadline and server.poll() is None, taken.stderr[-2000:]
            time.sleep(1)
        assert drawn(shot) > 20
        deadline = time.time() + 60
        while not (out / "rounds" / "round-0000.json").exists():
            assert time.time() < deadline, "no round completed in the served TUI"
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
