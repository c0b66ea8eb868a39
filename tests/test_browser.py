"""In a real browser (headless Chromium from the distribution's packages; `.ci/run` installs it when missing):
report.html loads offline with no console errors and draws its charts, and `lwd tui --serve` shows a live run
whose rounds complete. Skipped, with the reason, where no Chromium can be found."""

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKE_SCENARIO, write_scenario
from PIL import Image
from servers import _DIRECT, free_port
from typer.testing import CliRunner

from lwd.cli import app

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (`apt-get install chromium`)")


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            *args,
        ],
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


def shown_after(page: Path, expression: str, what: str) -> str:
    """Open ``page`` in Chromium (driven over its DevTools protocol) and evaluate ``expression`` until it
    gives a value: what the page then shows."""
    devtools = free_port()
    browser = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--remote-debugging-port={devtools}",
            page.as_uri(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        socket = wait_for(lambda: _page_socket(devtools), "the browser's page", browser)
        return wait_for(
            lambda: asyncio.run(
                _devtools(socket, "Runtime.evaluate", {"expression": expression}, "result")
            ).get("value"),
            what,
            browser,
        )
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def test_a_click_on_an_answer_shows_the_posts_its_author_read(run_folder):
    click = (
        "(() => { const found = document.querySelectorAll('#answers tbody tr');"
        " found[found.length - 1].click(); return document.getElementById('lineage').innerText; })()"
    )
    shown = shown_after(run_folder / "report.html", click, "the lineage of an answer")
    record = json.loads((run_folder / "rounds" / "round-0003.json").read_text())
    last = record["agents"][-1]
    assert shown.startswith(f"Round 3, agent {last['agent']} read {len(last['retrieved'])} posts")
    assert f"[{last['retrieved'][0]}]" in shown


def test_a_click_on_an_agent_of_a_large_networks_map_shows_its_answers_and_reads(tmp_path):
    """24 agents in communities: no table of every answer; the agent map's click handler (plotly's own
    plotly_click event, emitted on the map) opens the agent's round."""
    agents = '[[agents]]\ncount = 24\nname = "a{i}"\nbackend = "fake"\n'
    text = FAKE_SCENARIO[: FAKE_SCENARIO.index("[[agents]]")] + agents
    text += '[topology]\nname = "communities"\ngroups = 3\np_in = 0.5\np_out = 0.05\n'
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(write_scenario(tmp_path, text)), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    page = out / "report.html"
    dom = chromium(
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()
    )
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not [line for line in console if "error" in line.lower()], console
    click = (
        "(() => { const map = document.querySelectorAll('.plotly-graph-div')[2];"  # metrics, answers, the map
        " if (!map.emit) return null;"
        " map.emit('plotly_click', {points: [{customdata: [2, 5]}]});"
        " return document.getElementById('lineage').innerText; })()"
    )
    shown = shown_after(page, click, "an agent's round, from the map")
    record = json.loads((out / "rounds" / "round-0002.json").read_text())
    agent = record["agents"][5]
    assert agent["agent"] == "a5"
    assert "Its answers:" in shown and agent["responses"][0]["clean"] in shown
    assert f"Round 2, agent a5 read {len(agent['retrieved'])} posts" in shown
    assert f"[{agent['retrieved'][0]}]" in shown


def test_the_tui_served_to_a_browser_runs_rounds(tmp_path):
    """A browser stays on the page (Chromium driven over its DevTools protocol) while the served TUI starts a run:
    its rounds are committed, and a screenshot of the page shows the TUI, not textual-serve's start dialog."""
    scenario = write_scenario(tmp_path, FAKE_SCENARIO.replace("rounds = 3", "rounds = 2"))
    out = tmp_path / "served"
    port, devtools = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lwd",
            "tui",
            str(scenario),
            "--out",
            str(out),
            "--serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    browser = None
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}"), "the server to listen", server)
        browser = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--window-size=1200,800",
                f"--remote-debugging-port={devtools}",
                f"http://127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        page = wait_for(lambda: _page_socket(devtools), "the browser's page", browser)
        wait_for(
            lambda: (out / "rounds" / "round-0001.json").exists(), "two rounds of the served run", server
        )
        shot = tmp_path / "tui.png"
        shot.write_bytes(
            asyncio.run(_devtools(page, "Page.captureScreenshot", {"format": "png"}, "data", b64=True))
        )
        started = asyncio.run(
            _devtools(page, "Runtime.evaluate", {"expression": "document.body.className"}, "result")
        )["value"]
        assert "-first-byte" in started  # the TUI's screen reached the page
        assert drawn(shot) > 20
    finally:
        for proc in (server, browser):  # the server first, its session still open: it must take it along
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    time.sleep(1)
    assert not _running(str(scenario)), "a TUI session outlived the server that started it"


def _running(needle: str) -> list[int]:
    """Processes whose command line mentions ``needle``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def wait_for(ready, what: str, proc: subprocess.Popen, timeout: float = 600):
    deadline = time.time() + timeout
    while not (found := ready()):
        assert proc.poll() is None, f"it exited while waiting for {what}"
        assert time.time() < deadline, f"no {what} after {timeout:.0f} s"
        time.sleep(0.3)
    return found


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2):
            return True
    except OSError:
        return False


def _page_socket(port: int) -> str | None:
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}/json", timeout=2) as response:
            targets = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)


async def _devtools(socket_url: str, method: str, params: dict, key: str, b64: bool = False):
    import aiohttp  # textual-serve's own dependency

    async with aiohttp.ClientSession() as session, session.ws_connect(socket_url, max_msg_size=0) as ws:
        await ws.send_json({"id": 1, "method": method, "params": params})
        async for message in ws:
            data = json.loads(message.data)
            if data.get("id") == 1:
                value = data["result"][key]
                return base64.b64decode(value) if b64 else value
    raise AssertionError(f"no answer to {method}")
