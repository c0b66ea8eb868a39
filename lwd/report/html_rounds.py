"""report.html's charts round by round: the MDS of every answer and the agent map (a slider and a play button
over the rounds), and the distance matrix D of each round."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from lwd.report.figures import mds_limits
from lwd.report.groups import DENSE_AGENTS, Group, agent_map, group_index
from lwd.report.html_time import COLOURS
from lwd.run.records import AgentRound, RoundArrays, RoundRecord

__all__ = ["mds_figure", "agent_map_figure", "distance_figure", "HEATMAP_AGENTS"]

_HOVER_CHARS = 160  # of an answer in the MDS hover text (the table holds it whole)
HEATMAP_AGENTS = 100  # D is drawn round by round up to this many agents


def mds_figure(
    records: list[RoundRecord], arrays: list[RoundArrays], agents: list[str], groups: list[Group]
) -> go.Figure:
    """Every answer of every round (a frame each), a trace per group (per agent of a small network, whose
    points show their answer's words; a large network's show their agent)."""
    xlim, ylim = mds_limits([a.coords for a in arrays])
    index = group_index(groups)
    dense = len(agents) <= DENSE_AGENTS
    names = np.array(agents, dtype=object)

    def traces(record: RoundRecord, a: RoundArrays) -> list[go.Scatter]:
        owned = index[a.owners]
        out = []
        for k, group in enumerate(groups):
            mine = owned == k
            owners, samples = a.owners[mine], a.samples[mine]
            text = (
                [_hover(record.agents[i], int(s)) for i, s in zip(owners, samples, strict=True)]
                if dense
                else names[owners]
            )
            out.append(
                go.Scatter(
                    x=a.coords[mine, 0].astype(np.float32),
                    y=a.coords[mine, 1].astype(np.float32),
                    mode="markers",
                    name=group.label,
                    text=text,
                    customdata=np.stack([np.full(len(owners), record.round), owners], axis=1),
                    hoverinfo="text+name",
                    marker={"color": COLOURS[k % len(COLOURS)], "size": 8 if dense else 4, "opacity": 0.75},
                )
            )
        return out

    rounds = [r.round for r in records]
    frames = [
        go.Frame(data=traces(r, a), name=str(t)) for t, r, a in zip(rounds, records, arrays, strict=True)
    ]
    fig = go.Figure(data=traces(records[0], arrays[0]), frames=frames)
    _animated(fig, rounds, xlim, ylim)
    return fig


def agent_map_figure(
    rounds: list[int], arrays: list[RoundArrays], agents: list[str], groups: list[Group]
) -> go.Figure:
    """The agent map (:func:`lwd.report.groups.agent_map`): an agent a point, a colour per group, a frame per
    round; a point's ``customdata`` (round, agent) opens that agent's answers and reads below."""
    maps = agent_map([a.means for a in arrays])
    xlim, ylim = mds_limits([coords for _, coords in maps])
    index = group_index(groups)
    names = np.array(agents, dtype=object)

    def traces(t: int, shown: np.ndarray, coords: np.ndarray) -> list[go.Scatter]:
        owned = index[shown]
        return [
            go.Scatter(
                x=coords[owned == k, 0].astype(np.float32),
                y=coords[owned == k, 1].astype(np.float32),
                mode="markers",
                name=group.label,
                text=names[shown[owned == k]],
                customdata=np.stack([np.full(int((owned == k).sum()), t), shown[owned == k]], axis=1),
                hoverinfo="text+name",
                marker={"color": COLOURS[k % len(COLOURS)], "size": 9 if len(agents) <= 100 else 5},
            )
            for k, group in enumerate(groups)
        ]

    frames = [go.Frame(data=traces(t, *m), name=str(t)) for t, m in zip(rounds, maps, strict=True)]
    fig = go.Figure(data=traces(rounds[0], *maps[0]), frames=frames)
    _animated(fig, rounds, xlim, ylim)
    return fig


def _animated(fig: go.Figure, rounds: list[int], xlim: tuple, ylim: tuple) -> None:
    """A scatter with a frame per round: fixed axes, a play button and a round slider."""
    fig.update_layout(
        height=560,
        xaxis={"range": list(xlim), "title": "MDS 1"},
        yaxis={"range": list(ylim), "title": "MDS 2"},
        updatemenus=[_play_button()],
        sliders=[_slider(rounds)],
    )


def _hover(agent: AgentRound, sample: int) -> str:
    """An answer as the MDS hover shows it: its sample number and its first words."""
    text = next((r.clean for r in agent.responses if r.sample == sample), "")
    short = text if len(text) <= _HOVER_CHARS else text[: _HOVER_CHARS - 1] + "…"
    return f"sample {sample}: {html.escape(short)}"


def distance_figure(records: list, arrays: list[tuple[int, RoundArrays]], agents: list[str]) -> go.Figure:
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
