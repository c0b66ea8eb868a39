"""The change study of docs/collapse.md: when each agent's own answers change, against the between-agent onset.

    lwd run study/chat-personas --replicates 5 --out runs/chat-personas-x5
    python docs/study_change.py runs/chat-personas-x5 [more replicate sets]

For every seed of every set (each ``metrics.csv`` below the folders given): per agent, the first round its change
test rejects (p ≤ α against round s), its first round of lasting change (m rounds in a row), the control chart's
first signal (calibrated on ``control_rounds`` rounds after s, and on 5 for comparison), and the network's
collapse onset (the between-agent test). Prints one row per agent and seed, then the medians per set.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from lwd.metrics import MetricSettings, collapse_onset, control_chart, lasting_change


def rows_of(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {c: np.array([float(r[c]) if r[c] else np.nan for r in rows]) for c in rows[0]}


def study(folder: Path) -> list[dict]:
    out = []
    for table in sorted(folder.rglob("metrics.csv")):
        manifest = json.loads((table.parent / "manifest.json").read_text())
        settings = MetricSettings.model_validate(manifest["scenario"]["resolved"].get("metrics", {}))
        columns = rows_of(table)
        agents = [c.removeprefix("change_p_") for c in columns if c.startswith("change_p_") and "__" not in c]
        statistic = np.stack([columns[f"change_{a}"] for a in agents], axis=1)
        onset = collapse_onset(list(columns["energy_p"]), settings.alpha, settings.consecutive)
        charts = {w: control_chart(statistic, settings.reference, w) for w in (settings.control_rounds, 5)}
        for i, agent in enumerate(agents):
            p = columns[f"change_p_{agent}"]
            rejected = [t for t, v in enumerate(p) if v <= settings.alpha]
            out.append(
                {
                    "set": folder.name,
                    "seed": manifest.get("seed", table.parent.name),
                    "agent": agent,
                    "first_rejection": rejected[0] if rejected else None,
                    "rejected_share": len(rejected) / max(1, np.isfinite(p).sum()),
                    "lasting_change": lasting_change(list(p), settings.alpha, settings.consecutive),
                    **{
                        f"signal_w{w}": (int(c.signal[i]) if c.signal[i] >= 0 else None)
                        for w, c in charts.items()
                    },
                    "between_onset": onset,
                    "duplicates_last": float(columns.get(f"duplicates_{agent}", [np.nan])[-1]),
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="+", type=Path)
    found = [row for folder in parser.parse_args().folders for row in study(folder)]
    keys = list(found[0])
    print(" | ".join(keys))
    for row in found:
        print(
            " | ".join(
                "-" if row[k] is None else f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k])
                for k in keys
            )
        )
    for name in dict.fromkeys(r["set"] for r in found):
        rows = [r for r in found if r["set"] == name]
        print(f"\n{name}: {len(rows)} agent-seeds")
        for key in (
            "first_rejection",
            "lasting_change",
            *[k for k in keys if k.startswith("signal_")],
            "between_onset",
        ):
            values = [r[key] for r in rows if r[key] is not None]
            median = f"median {np.median(values):g}" if values else ""
            print(f"  {key}: {len(values)} of {len(rows)} {median}")
        print(f"  rejected share: mean {np.mean([r['rejected_share'] for r in rows]):.2f}")


if __name__ == "__main__":
    main()
