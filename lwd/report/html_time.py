"""report.html's charts of agents over time: the perspective space's trajectories and the control chart."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lwd.report.change import Changes
from lwd.report.groups import DENSE_AGENTS, Group, bands

__all__ = ["perspective_figure", "control_figure", "COLOURS"]

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def perspective_figure(
    rounds: list[int], coords: dict[str, np.ndarray], agents: list[str], groups: list[Group]
) -> go.Figure:
    """Left: the mean answers' joint MDS; right: the answer distributions' (energy distances). A line per agent
    through its rounds (a larger network: a line per group through its members' centroid), round 0 marked ○."""
    titles = ["mean answers (classical MDS)", "answer distributions (energy distances, MDS)"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
    for col, key in enumerate(("means", "energy"), start=1):
        points = coords[key]  # (T, n, 2)
        for k, group in enumerate(groups):
            colour = COLOURS[k % len(COLOURS)]
            path = _centroid(points[:, list(group.members)])
            fig.add_trace(
                go.Scatter(
                    x=path[:, 0],
                    y=path[:, 1],
                    mode="lines+markers",
                    name=group.label,
                    legendgroup=group.label,
                    showlegend=col == 1,
                    line_color=colour,
                    marker_size=4,
                    text=[f"round {t}" for t in rounds],
                    hovertemplate="%{text}<extra>" + html.escape(group.label) + "</extra>",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=path[:1, 0],
                    y=path[:1, 1],
                    mode="markers",
                    legendgroup=group.label,
                    showlegend=False,
                    marker={"symbol": "circle-open", "size": 11, "color": colour},
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(height=430, margin={"t": 40})
    return fig


def _centroid(points: np.ndarray) -> np.ndarray:
    """(T, m, 2) points -> (T, 2): the mean of each round's finite points, NaN (a gap in the line) where a round
    has none — without numpy's "Mean of empty slice" warning on stderr."""
    finite = np.isfinite(points)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, points, 0.0).sum(axis=1) / finite.sum(axis=1)


def control_figure(rounds: list[int], changes: Changes, agents: list[str]) -> go.Figure:
    """A small network: each agent's statistic, its control limit (dashed) and first signal (×). A large one:
    the agents' median and 10–90% band, and the share of agents signalled so far (right axis)."""
    chart, statistic = changes.chart, changes.statistic
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if len(agents) <= DENSE_AGENTS:
        for i, agent in enumerate(agents):
            colour = COLOURS[i % len(COLOURS)]
            fig.add_trace(go.Scatter(x=rounds, y=statistic[:, i], name=agent, line_color=colour))
            if np.isfinite(chart.limit[i]):
                limit = [chart.limit[i]] * 2
                fig.add_trace(
                    go.Scatter(
                        x=[chart.first, rounds[-1]],
                        y=limit,
                        mode="lines",
                        line={"color": colour, "dash": "dash"},
                        name=f"{agent}: limit",
                        showlegend=False,
                    )
                )
            if chart.signal[i] >= 0:
                t = int(chart.signal[i])
                fig.add_trace(
                    go.Scatter(
                        x=[t],
                        y=[statistic[rounds.index(t), i]],
                        mode="markers",
                        name=f"{agent}: signal",
                        marker={"symbol": "x", "size": 12, "color": colour},
                        showlegend=False,
                    )
                )
    else:
        middle, low, high = bands(statistic.T)
        edge = {"line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
        fig.add_trace(go.Scatter(x=rounds, y=high, **edge))
        fig.add_trace(go.Scatter(x=rounds, y=low, fill="tonexty", name="agents: 10–90%", **edge))
        fig.add_trace(go.Scatter(x=rounds, y=middle, name="median agent"))
        signals = chart.signal[chart.signal >= 0]
        share = [float((signals <= t).sum()) / len(agents) for t in rounds]
        fig.add_trace(
            go.Scatter(x=rounds, y=share, name="share signalled", line_color="#d62728"), secondary_y=True
        )
        fig.update_yaxes(range=[0, 1], title_text="share of agents signalled", secondary_y=True)
    fig.add_vline(x=chart.first - 0.5, line={"color": "grey", "dash": "dot"})
    fig.update_xaxes(title_text="round t")
    fig.update_yaxes(title_text="energy distance from round s", secondary_y=False)
    fig.update_layout(height=380, margin={"t": 30})
    return fig
