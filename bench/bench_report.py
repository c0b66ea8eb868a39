"""report.html of a run folder: how long the report takes (figures, GIF and report.html), the page's size, and
how long headless Chromium takes to load it (minus Chromium's own start, measured on about:blank). Issue 12's goal for paper-bitcoin (7,320 answers):
under 15 MB and under 3 s to open.

    python bench/bench_report.py RUN_FOLDER      (e.g. a `lwd run paper-bitcoin` folder)
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from lwd.report import write_llm_report
from lwd.report.html import REPORT


def load_seconds(browser: str, url: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
            capture_output=True,
            check=True,
        )
        best = min(best, time.perf_counter() - started)
    return best


def main(folder: Path) -> None:
    started = time.perf_counter()
    write_llm_report(folder)
    page = folder / REPORT
    print(
        f"whole report: {time.perf_counter() - started:.2f} s; report.html: {page.stat().st_size / 1e6:.1f} MB"
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no Chromium: load time not measured")
        return
    blank, loaded = load_seconds(browser, "about:blank"), load_seconds(browser, page.resolve().as_uri())
    print(
        f"load in headless Chromium: {loaded - blank:.2f} s (page {loaded:.2f} s, about:blank {blank:.2f} s)"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
