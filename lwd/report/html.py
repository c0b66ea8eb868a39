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
from lwd.metrics.collapse import FROBENIUS
from lwd.metrics.registry import Column, Kind
from lwd.report.change import Changes
from lwd.report.figures import normalised, summarised
from lwd.report.groups import DENSE_AGENTS, bands, picture_groups
from lwd.report.html_rounds import HEATMAP_AGENTS, agent_map_figure, distance_figure, mds_figure
from lwd.report.html_time import COLOURS, control_figure, perspective_figure
from lwd.report.pages import LISTED, RUN_TEMPLATE, SOURCES_TEMPLATE, UNLISTED
from lwd.report.sources import Source, headline_columns, mean_interval, panel_title, per_seed
from lwd.run.manifest import RunManifest
from lwd.run.records import RoundArrays, RoundRecord
from lwd.run.rounds import RoundLog

__all__ = ["write_llm_html", "write_sources_html", "REPORT"]

REPORT = "report.html"
READS_SHOWN = 20  # posts a large network's page holds of each agent's reads in a round


def write_llm_html(
    folder: Path,
    log: RoundLog,
    records: list[RoundRecord],
    frames: list[tuple[int, RoundArrays]],
    manifest: RunManifest,
    panels: list[tuple[str, list[Column]]],
    twin: dict | None,
    changes: Changes | None = None,
    perspective: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``folder/report.html`` from what the LLM report has read (the committed rounds, each round's
    arrays, the manifest, the metric panels, the twin); returns its path."""
    name = manifest.name
    agents = [a.agent for a in records[0].agents]
    rounds = [r.round for r in records]
    table = {
        c: np.array([r.metrics.get(c, np.nan) for r in records], dtype=float) for c in records[0].metrics
    }
    groups = picture_groups(agents, manifest.communities, manifest.agents)
    figures = [
        ("Every metric over rounds", _metrics_figure(rounds, table, panels)),
        (
            "Every answer in 2-D (classical MDS; rounds aligned by Procrustes)",
            mds_figure(records, [a for _, a in frames], agents, groups),
        ),
        (
            "The agent map: each agent's mean answer X_i in 2-D (click an agent: its answers and what it read)",
            agent_map_figure(rounds, [a for _, a in frames], agents, groups),
        ),
    ]
    if len(agents) <= HEATMAP_AGENTS:  # a larger D is too large to draw (or to ship) round by round
        figures.append(
            ("D, the distances between the agents' mean answers", distance_figure(records, frames, agents))
        )
    if perspective is not None:
        title = "Perspective space over time: every agent-round embedded jointly, each agent's trajectory"
        figures.append((title, perspective_figure(rounds, perspective, agents, groups)))
    if changes is not None:
        title = (
            "Control chart: each agent's energy distance from its own answers of round s — "
            + (changes.summary["sentence"])
        )
        figures.append((title, control_figure(rounds, changes, agents)))
    if twin is not None:
        figures.append(("The LLM network and its GMM twin", _twin_figure(rounds, table[FROBENIUS], twin)))
    initial, _ = log.initial()
    posts = {p.id: p.text for p in initial}
    for record in records:
        posts.update((p.id, p.text) for p in record.posts)
    path = Path(folder) / REPORT
    write_text(path, _page(name, manifest, figures, records, posts, dense=len(agents) <= DENSE_AGENTS))
    return path


def write_sources_html(out: Path, title: str, about: str, sources: list[Source]) -> Path:
    """Write ``out/report.html``: every headline metric over rounds, a band per source; returns its path."""
    columns = [c for c in headline_columns() if any(c in t for s in sources for t in s.tables)]
    figures = [(panel_title(c), _bands_figure(sources, c)) for c in columns]
    rows = "\n".join(
        f"<tr><td>{html.escape(s.label)}</td><td>{len(s.seeds)}</td><td>{' '.join(map(str, s.seeds))}</td></tr>"
        for s in sources
    )
    page = SOURCES_TEMPLATE.format(
        title=html.escape(f"lwd — {title}"),
        name=html.escape(title),
        about=html.escape(about),
        charts="\n".join(_charts(figures)),
        rows=rows,
    )
    path = Path(out) / REPORT
    write_text(path, page)
    return path


def _bands_figure(sources: list[Source], column: str) -> go.Figure:
    fig = go.Figure()
    for i, source in enumerate(sources):
        runs = [t[column] for t in source.tables if column in t]
        if not runs:
            continue
        colour = COLOURS[i % len(COLOURS)]
        length = min(map(len, runs))
        values = np.array([r[:length] for r in runs], dtype=float)
        t = list(range(length))
        label = f"{source.label} ({len(runs)} seed{'s' * (len(runs) > 1)})"
        if per_seed(column):
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
    if per_seed(column):
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
    rounds: list[int], table: dict[str, np.ndarray], panels: list[tuple[str, list[Column]]]
) -> go.Figure:
    """Every registered metric, a panel each, a line per column (as figures/metrics.png): a per-agent quantity
    of a large network as its median and 10–90% band; a panel with a p-value holds its p-values only, on
    [0, 1]."""
    panels = [(label, [c for c in cols if c.kind is Kind.PVALUE] or cols) for label, cols in panels]
    fig = make_subplots(rows=-(-len(panels) // 2), cols=2, subplot_titles=[t for t, _ in panels])
    for k, (_, columns) in enumerate(panels):
        where, first = {"row": k // 2 + 1, "col": k % 2 + 1}, len(fig.data)
        edge = {"line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
        for family, stats in summarised(columns).items():
            fig.add_trace(go.Scatter(x=rounds, y=table[stats["q90"]], **edge), **where)
            fig.add_trace(
                go.Scatter(x=rounds, y=table[stats["q10"]], fill="tonexty", name=f"{family}: 10–90%", **edge),
                **where,
            )
            name = f"{family} (median of agents)"
            fig.add_trace(
                go.Scatter(x=rounds, y=table[stats["median"]], mode="lines+markers", name=name), **where
            )
        plain = [c.name for c in columns if c.stat is None]
        if len(plain) > DENSE_AGENTS:  # a column per agent of a metric of your own: their median and band
            middle, low, high = bands(np.array([table[c] for c in plain]))
            fig.add_trace(go.Scatter(x=rounds, y=high, **edge), **where)
            fig.add_trace(go.Scatter(x=rounds, y=low, fill="tonexty", name="10–90%", **edge), **where)
            name = f"median of {len(plain)}"
            fig.add_trace(go.Scatter(x=rounds, y=middle, mode="lines+markers", name=name), **where)
            plain = []
        for column in plain:
            fig.add_trace(
                go.Scatter(x=rounds, y=table[column], mode="lines+markers", name=column, marker_size=4),
                **where,
            )
        if any(c.kind is Kind.PVALUE for c in columns):
            fig.update_yaxes(range=[0, 1], **where)
        _legend_in_panel(fig, k, fig.data[first:])
    fig.update_xaxes(title_text="round t")
    fig.update_layout(height=330 * (-(-len(panels) // 2)), margin={"t": 40})
    return fig


def _legend_in_panel(fig: go.Figure, k: int, traces) -> None:
    """Panel k's traces in a legend of their own, in the panel's top-right corner: a line is told from the
    others of its panel, never from a same-coloured line of another panel in one long legend."""
    name, axis = ("legend", "") if k == 0 else (f"legend{k + 1}", str(k + 1))
    for trace in traces:
        trace.legend = name
    x, y = fig.layout[f"xaxis{axis}"].domain, fig.layout[f"yaxis{axis}"].domain
    fig.update_layout(
        {
            name: {
                "x": x[1],
                "y": y[1],
                "xanchor": "right",
                "yanchor": "top",
                "font": {"size": 9},
                "bgcolor": "rgba(255,255,255,0.7)",
            }
        }
    )


def _twin_figure(rounds: list[int], frobenius: np.ndarray, twin: dict) -> go.Figure:
    gmm = normalised(twin[FROBENIUS])
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


# -- answers and lineage ------------------------------------------------------------------------------------------


def _page(
    name: str,
    manifest: RunManifest,
    figures: list[tuple[str, go.Figure]],
    records: list[RoundRecord],
    posts: dict,
    dense: bool = True,
) -> str:
    """The page: the charts, then the answers. A small network's page lists every answer in a table and holds
    every id each agent read per round; a large network's page (past DENSE_AGENTS agents) lists none: a click on
    the agent map (or on an answer's point) shows that agent's answers of that round (each distinct text held
    once) and the first READS_SHOWN posts it read (responses.csv has them all). Each post's text is held once."""
    reads, counts, answers, texts, rows = {}, {}, {}, {}, []
    for record in records:
        for agent in record.agents:
            key = f"{record.round}/{agent.agent}"
            reads[key] = list(agent.retrieved if dense else agent.retrieved[:READS_SHOWN])
            counts[key] = len(agent.retrieved)
            if not dense:
                answers[key] = [
                    [
                        r.sample,
                        int(r.sample == agent.posted_sample),
                        texts.setdefault(r.clean or r.error or "", len(texts)),
                    ]
                    for r in agent.responses
                ]
                continue
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
    if not dense:  # only the posts a shown read list names
        posts = {i: posts[i] for ids in reads.values() for i in ids if i in posts}
    data = {
        "posts": posts,
        "reads": reads,
        "counts": counts,
        "agents": [a.agent for a in records[0].agents],
        "answers": answers,
        "texts": list(texts),
    }
    described = html.escape(manifest.description)
    answered = sum(len(a.responses) for r in records for a in r.agents)
    return RUN_TEMPLATE.format(
        title=html.escape(f"lwd — {name}"),
        name=html.escape(name),
        described=described,
        created=html.escape(manifest.created),
        seed=html.escape(str(manifest.seed if manifest.seed is not None else "")),
        charts="\n".join(_charts(figures)),
        listed=LISTED if dense else UNLISTED.format(count=answered, shown=READS_SHOWN),
        rows="\n".join(rows),
        count=answered,
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
    )
