"""A soak test: 20 fake agents for 200 rounds on a bounded Internet (a window of 2 rounds), in this process.

With |A_t| bounded, a round costs the same at t = 200 as at t = 20 and memory stays flat: nothing may grow with
the history (before issue 11, every round read every post ever made back from Chroma, and memory grew by about
1.1 MB a round; now about 0.1). The bounds are loose ratios, not speed targets (those live in bench/)."""

import statistics
import time

import pytest
from conftest import write_scenario

from lwd.run.kinds import EventKind
from lwd.run.llm import start_run
from lwd.run.scenario import load_scenario

psutil = pytest.importorskip("psutil")

AGENTS = "".join(f'\n[[agents]]\nname = "a{i:02d}"\nbackend = "fake"\n' for i in range(20))
SOAK = f"""
description = "soak: 20 fake agents, 200 rounds, a window of 2 rounds"
seed = 1

[network]
beta = 0.5
samples = 2
rounds = 200

[internet]
regime = "window"
window = 2

[embedder]
model = "hash"
{AGENTS}"""


def test_two_hundred_rounds_of_twenty_agents_keep_time_and_memory_flat(tmp_path):
    seconds, rss = {}, {}
    last = [time.perf_counter()]
    process = psutil.Process()

    def watch(event):
        if event.kind == EventKind.ROUND_DONE:
            now = time.perf_counter()
            seconds[event.round], last[0] = now - last[0], now
            rss[event.round] = process.memory_info().rss / 2**20

    start_run(load_scenario(write_scenario(tmp_path, SOAK)), tmp_path / "run", on_event=watch)
    assert sorted(seconds) == list(range(201))
    early = statistics.median(seconds[t] for t in range(10, 60))
    late = statistics.median(seconds[t] for t in range(150, 201))
    assert late < 3 * early, (early, late)
    assert rss[200] - rss[100] < 40, (rss[100], rss[200])  # MiB over the second 100 rounds (measured: 12)
