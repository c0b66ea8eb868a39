"""``report.html``: a run folder in one self-contained page that opens offline and can be shared.

An LLM run gets the full page below; a GMM run, a sweep or replicate set and `lwd compare` get the page of their
sources (:func:`write_sources_html`): each headline metric over rounds, a band (mean and 95% interval over seeds)
per source, the test's p-values one line per seed.

Plotly draws the charts (its JavaScript inlined once, nothing fetched): every metric over rounds and the energy
test's p-values, the MDS of every answer with a round slider and a play button, the D matrix of each round, the
GMM twin beside the LLM curve when the run has one. Below them, a searchable table of every answer; a click on an
answer shows the posts its author read that round (its lineage), which the page holds once, by id.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lwd.core.files import write_text
from lwd.report.figures import mds_limits, normalised
from lwd.report.sources import Source, headline_columns, mean_interval
from lwd.run.rounds import AgentRound, RoundArrays, RoundLog, RoundRecord

__all__ = ["write_llm_html", "write_sources_html", "REPORT"]

REPORT = "report.html"
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
_HOVER_CHARS = 160  # of an answer in the MDS hover text (the table holds it whole)
HEATMAP_AGENTS = 100  # D is drawn round by round up to this many agents


def write_llm_html(
    folder: Path,
    log: RoundLog,
    records: list[RoundRecord],
    frames: list[tuple[int, RoundArrays]],
    manifest: dict,
    panels: list[tuple[str, list[str]]],
    twin: dict | None,
) -> Path:
    """Write ``folder/report.html`` from what the LLM report has read (the committed rounds, each round's
    arrays, the manifest, the metric panels, the twin); returns its path."""
    name = manifest["scenario"]["name"]
    agents = [a.agent for a in records[0].agents]
    rounds = [r.round for r in records]
    table = {
        c: np.array([r.metrics.get(c, np.nan) for r in records], dtype=float) for c in records[0].metrics
    }
    figures = [
        ("Every metric over rounds", _metrics_figure(rounds, table, panels)),
        (
            "Every answer in 2-D (classical MDS; rounds aligned by Procrustes)",
            _mds_figure(records, [a for _, a in frames], agents),
        ),
    ]
    if len(agents) <= HEATMAP_AGENTS:  # a larger D is too large to draw (or to ship) round by round
        figures.append(
            ("D, the distances between the agents' mean answers", _distance_figure(records, frames, agents))
        )
    if twin is not None:
        figures.append(("The LLM network and its GMM twin", _twin_figure(rounds, table["frobenius"], twin)))
    initial, _ = log.initial()
    posts = {p.id: p.text for p in initial}
    for record in records:
        posts.update((p.id, p.text) for p in record.posts)
    path = Path(folder) / REPORT
    write_text(path, _page(name, manifest, figures, records, posts))  # whole or not at all
    return path


def write_sources_html(out: Path, title: str, about: str, sources: list[Source]) -> Path:
    """Write ``out/report.html``: every headline metric over rounds, a band per source; returns its path."""
    columns = [c for c in headline_columns() if any(c in t for s in sources for t in s.tables)]
    figures = [(_COLUMN_TITLES.get(c, c), _bands_figure(sources, c)) for c in columns]
    rows = "\n".join(
        f"<tr><td>{html.escape(s.label)}</td><td>{len(s.seeds)}</td><td>{' '.join(map(str, s.seeds))}</td></tr>"
        for s in sources
    )
    page = _SOURCES_TEMPLATE.format(
        title=html.escape(f"lwd — {title}"),
        name=html.escape(title),
        about=html.escape(about),
        charts="\n".join(_charts(figures)),
        rows=rows,
    )
    path = Path(out) / REPORT
    write_text(path, page)
    return path


_COLUMN_TITLES = {
    "frobenius": "‖D‖_F — mean and 95% interval over seeds",
    "between_share": "between-agent share of the spread — mean and 95% interval over seeds",
    "energy": "‖E‖_F — mean and 95% interval over seeds",
    "energy_p": "p-value of the energy test, each seed (below α: told apart)",
}


def _bands_figure(sources: list[Source], column: str) -> go.Figure:
    fig = go.Figure()
    for i, source in enumerate(sources):
        runs = [t[column] for t in source.tables if column in t]
        if not runs:
            continue
        colour = _COLOURS[i % len(_COLOURS)]
        length = min(map(len, runs))
        values = np.array([r[:length] for r in runs], dtype=float)
        t = list(range(length))
        label = f"{source.label} ({len(runs)} seed{'s' * (len(runs) > 1)})"
        if column == "energy_p":
            for j, run in enumerate(values):
                fig.add_trace(
                    go.Scatter(
                        x=t,
                        y=run,
                        name=label,
                        legendgroup=label,
                        showlegend=j == 0,
                        line={"color": colour, "width": 1},
                    )
                )
            continue
        stats = [mean_interval(list(values[:, k])) for k in t]
        mean = np.array([m for m, _ in stats])
        half = np.nan_to_num(np.array([h for _, h in stats]))
        band = {"legendgroup": label, "showlegend": False, "line": {"width": 0}, "hoverinfo": "skip"}
        fig.add_trace(go.Scatter(x=t, y=mean + half, **band))
        fig.add_trace(go.Scatter(x=t, y=mean - half, fill="tonexty", fillcolor=_faint(colour), **band))
        fig.add_trace(go.Scatter(x=t, y=mean, name=label, legendgroup=label, line={"color": colour}))
    if column == "energy_p":
        alpha = sources[0].settings.alpha
        fig.add_hline(y=alpha, line_dash="dash", annotation_text=f"α = {alpha:g}")
        fig.update_yaxes(range=[0, 1])
    fig.update_layout(height=380, xaxis_title="round t", margin={"t": 30})
    return fig


def _faint(colour: str) -> str:
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},0.18)"


def _charts(figures: list[tuple[str, go.Figure]]) -> list[str]:
    """Each figure under its title; plotly's JavaScript inlined with the first one only."""
    return [
        f"<h2>{html.escape(title)}</h2>\n"
        + fig.to_html(full_html=False, include_plotlyjs=k == 0, config={"displaylogo": False})
        for k, (title, fig) in enumerate(figures)
    ]


# -- figures ----------------------------------------------------------------------------------------------------


def _metrics_figure(
    rounds: list[int], table: dict[str, np.ndarray], panels: list[tuple[str, list[str]]]
) -> go.Figure:
    """Every registered metric, a panel each, a line per column (as figures/metrics.png); the test's panel holds
    its p-value only, on [0, 1]."""
    panels = [(label, ["energy_p"] if "energy_p" in cols else cols) for label, cols in panels]
    fig = make_subplots(rows=-(-len(panels) // 2), cols=2, subplot_titles=[t for t, _ in panels])
    for k, (_, columns) in enumerate(panels):
        for column in columns:
            fig.add_trace(
                go.Scatter(x=rounds, y=table[column], mode="lines+markers", name=column, marker_size=4),
                row=k // 2 + 1,
                col=k % 2 + 1,
            )
    fig.update_xaxes(title_text="round t")
    for k, (_, columns) in enumerate(panels):
        if "energy_p" in columns:
            fig.update_yaxes(range=[0, 1], row=k // 2 + 1, col=k % 2 + 1)
    fig.update_layout(height=330 * (-(-len(panels) // 2)), margin={"t": 40}, legend={"font": {"size": 10}})
    return fig


def _mds_figure(records: list[RoundRecord], arrays: list[RoundArrays], agents: list[str]) -> go.Figure:
    xlim, ylim = mds_limits([a.coords for a in arrays])

    def traces(record: RoundRecord, a: RoundArrays) -> list[go.Scatter]:
        return [
            go.Scatter(
                x=a.coords[a.owners == i, 0],
                y=a.coords[a.owners == i, 1],
                mode="markers",
                name=agent,
                text=[_hover(record.agents[i], int(s)) for s in a.samples[a.owners == i]],
                hoverinfo="text+name",
                marker={"color": _COLOURS[i % len(_COLOURS)], "size": 8, "opacity": 0.75},
            )
            for i, agent in enumerate(agents)
        ]

    rounds = [r.round for r in records]
    frames = [
        go.Frame(data=traces(r, a), name=str(t)) for t, r, a in zip(rounds, records, arrays, strict=True)
    ]
    fig = go.Figure(data=traces(records[0], arrays[0]), frames=frames)
    fig.update_layout(
        height=560,
        xaxis={"range": list(xlim), "title": "MDS 1"},
        yaxis={"range": list(ylim), "title": "MDS 2"},
        updatemenus=[_play_button()],
        sliders=[_slider(rounds)],
    )
    return fig


def _hover(agent: AgentRound, sample: int) -> str:
    """An answer as the MDS hover shows it: its sample number and its first words."""
    text = next((r.clean for r in agent.responses if r.sample == sample), "")
    short = text if len(text) <= _HOVER_CHARS else text[: _HOVER_CHARS - 1] + "…"
    return f"sample {sample}: {html.escape(short)}"


def _distance_figure(records: list, arrays: list[tuple[int, RoundArrays]], agents: list[str]) -> go.Figure:
    """D of every round: the record's own (small networks) or rebuilt from the round's means."""
    matrices = [
        np.asarray(r.distance, dtype=float) if r.distance else a.distance()
        for r, (_, a) in zip(records, arrays, strict=True)
    ]
    top = max(float(np.nanmax(m)) for m in matrices) or 1.0

    def heatmap(m: np.ndarray) -> go.Heatmap:
        return go.Heatmap(z=m, x=agents, y=agents, zmin=0, zmax=top, colorscale="Viridis")

    rounds = [r.round for r in records]
    frames = [go.Frame(data=[heatmap(m)], name=str(t)) for t, m in zip(rounds, matrices, strict=True)]
    fig = go.Figure(data=[heatmap(matrices[0])], frames=frames)
    fig.update_layout(
        height=480, yaxis={"autorange": "reversed"}, updatemenus=[_play_button()], sliders=[_slider(rounds)]
    )
    return fig


def _twin_figure(rounds: list[int], frobenius: np.ndarray, twin: dict) -> go.Figure:
    gmm = normalised(twin["frobenius"])
    fig = go.Figure()
    t = list(range(gmm.shape[1]))
    if gmm.shape[0] > 1:
        fig.add_trace(go.Scatter(x=t, y=gmm.max(axis=0), line={"width": 0}, showlegend=False))
        fig.add_trace(
            go.Scatter(
                x=t, y=gmm.min(axis=0), fill="tonexty", line={"width": 0}, name="twin: range of replicates"
            )
        )
    fig.add_trace(go.Scatter(x=t, y=gmm.mean(axis=0), name="GMM twin (mean)"))
    fig.add_trace(go.Scatter(x=rounds, y=normalised(frobenius), name="LLM network", mode="lines+markers"))
    fig.update_layout(height=380, xaxis_title="round t", yaxis_title="‖D⁽ᵗ⁾‖_F ÷ ‖D⁽⁰⁾‖_F")
    return fig


def _play_button() -> dict:
    return {
        "type": "buttons",
        "x": 0,
        "y": -0.08,
        "xanchor": "right",
        "buttons": [
            {
                "label": "▶",
                "method": "animate",
                "args": [None, {"frame": {"duration": 500, "redraw": True}, "fromcurrent": True}],
            }
        ],
    }


def _slider(rounds: list[int]) -> dict:
    return {
        "active": 0,
        "currentvalue": {"prefix": "round t = "},
        "steps": [
            {
                "label": str(t),
                "method": "animate",
                "args": [[str(t)], {"mode": "immediate", "frame": {"redraw": True}}],
            }
            for t in rounds
        ],
    }


# -- answers and lineage ------------------------------------------------------------------------------------------


def _page(
    name: str, manifest: dict, figures: list[tuple[str, go.Figure]], records: list[RoundRecord], posts: dict
) -> str:
    """The page: the charts, then every answer of the committed rounds; the ids each agent read per round and
    every post's text once, as data for the lineage view."""
    reads, rows = {}, []
    for record in records:
        for agent in record.agents:
            key = f"{record.round}/{agent.agent}"
            reads[key] = list(agent.retrieved)
            rows += [
                "<tr data-reads='{key}'><td>{round}</td><td>{agent}</td><td>{sample}</td><td>{posted}</td>"
                "<td class=answer>{text}</td></tr>".format(
                    key=html.escape(key, quote=True),
                    round=record.round,
                    agent=html.escape(agent.agent),
                    sample=r.sample,
                    posted="✓" if r.sample == agent.posted_sample else "",
                    text=html.escape(r.clean or r.error or ""),
                )
                for r in agent.responses
            ]
    data = json.dumps({"posts": posts, "reads": reads}).replace("</", "<\\/")
    described = html.escape(manifest["scenario"].get("resolved", {}).get("description", ""))
    return _TEMPLATE.format(
        title=html.escape(f"lwd — {name}"),
        name=html.escape(name),
        described=described,
        created=html.escape(str(manifest.get("created", ""))),
        seed=html.escape(str(manifest.get("seed", ""))),
        charts="\n".join(_charts(figures)),
        rows="\n".join(rows),
        count=len(rows),
        data=data,
    )


_STYLE = """<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; font-size: 1.15em; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 6px; vertical-align: top; text-align: left; }}
</style>"""

_SOURCES_TEMPLATE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
"""
    + _STYLE
    + """</head><body>
<h1>{name}</h1>
<p>{about}<br><small>written by lwd from the run folder</small></p>
{charts}
<h2>Sources</h2>
<table><thead><tr><th>source</th><th>seeds</th><th>which</th></tr></thead><tbody>
{rows}
</tbody></table>
</body></html>
"""
)

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; font-size: 1.15em; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 6px; vertical-align: top; text-align: left; }}
tr:hover {{ background: #f4f4f8; cursor: pointer; }}
#lineage {{ background: #f8f8f0; border: 1px solid #ccc; padding: 0.6em 1em; display: none; }}
#search {{ width: 40%; padding: 4px; margin: 0.4em 0; }}
</style></head><body>
<h1>{name}</h1>
<p>{described}<br><small>seed {seed} · created {created} · written by lwd from the run folder</small></p>
{charts}
<h2>Every answer ({count})</h2>
<p>Type to filter; click an answer to see the posts its author read that round.</p>
<input id="search" type="search" placeholder="filter answers, agents, rounds…">
<div id="lineage"></div>
<table id="answers"><thead><tr><th>round</th><th>agent</th><th>sample</th><th>posted</th><th>answer</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<script id="lwd-data" type="application/json">{data}</script>
<script>
const lwd = JSON.parse(document.getElementById("lwd-data").textContent);
const rows = Array.from(document.querySelectorAll("#answers tbody tr"));
document.getElementById("search").addEventListener("input", (event) => {{
  const words = event.target.value.toLowerCase();
  for (const row of rows) row.style.display = row.textContent.toLowerCase().includes(words) ? "" : "none";
}});
const lineage = document.getElementById("lineage");
for (const row of rows) row.addEventListener("click", () => {{
  const ids = lwd.reads[row.dataset.reads] || [];
  lineage.replaceChildren();
  const head = document.createElement("b");
  head.textContent = "Round " + row.dataset.reads.replace("/", ", agent ") + " read " + ids.length + " posts:";
  lineage.append(head);
  const list = document.createElement("ol");
  for (const id of ids) {{
    const item = document.createElement("li");
    item.textContent = "[" + id + "] " + (lwd.posts[id] || "?");
    list.append(item);
  }}
  lineage.append(list);
  lineage.style.display = "block";
  lineage.scrollIntoView({{block: "nearest"}});
}});
</script>
</body></html>
"""
