"""The TUI's panes. Each redraws from plain data the app hands it; none of them runs anything."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widgets import DataTable, Label, ListItem, ListView, Static
from textual_plotext import PlotextPlot

from lwd.gmm.density import density_grid, marginal_densities
from lwd.gmm.simulate import GMMRun
from lwd.metrics.change import CHANGE, CHANGE_P, CHANGED_SHARE
from lwd.metrics.collapse import FROBENIUS
from lwd.metrics.perspective import joint_means
from lwd.report.groups import Group, group_index
from lwd.run.records import AgentRound

__all__ = [
    "COLORS",
    "color_of",
    "MetricChart",
    "MDSPlot",
    "GMMPane",
    "DistanceTable",
    "ResponseItem",
    "ResponseLog",
    "StatusBar",
]

# One palette for rich (hex) and plotext (RGB): plotext's named colours follow its theme, rich's do not.
COLORS = ("#4fc3f7", "#f06292", "#ffb74d", "#81c784", "#ba68c8", "#e57373", "#fff176")


def color_of(index: int) -> str:
    """An agent's (or replicate's) colour, as rich takes it."""
    return COLORS[index % len(COLORS)]


def rgb_of(index: int) -> tuple[int, int, int]:
    """The same colour as plotext takes it."""
    code = color_of(index).lstrip("#")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


class MetricChart(PlotextPlot):
    """One metric over rounds, a line per column: ‖D‖_F first, and ``m`` steps through every registered metric.
    With the GMM proxy shown, and the proxy computing that metric's single column too, both curves are divided
    by their round-0 value so they share an axis; GMM mode draws every replicate of the proxy, and beside ‖D‖_F
    Appendix A's expectation (the mean over replicates, with and without the noise of the draws)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.llm: list[tuple[int, dict[str, float]]] = []  # (round, its metrics)
        self.gmm: dict[str, np.ndarray] | None = None  # the proxy's metrics: {column: (R, T+1)}
        self.gmm_upto: int | None = None  # GMM mode: the round on screen
        self.theory: dict[str, np.ndarray] | None = None  # GMM mode: Appendix A's ‖D‖_F curves, (R, T+1) each
        self.show_gmm = True
        self.metrics: list[tuple[str, str, list[str]]] = [(FROBENIUS, "‖D‖_F", [FROBENIUS])]  # the list
        self.limits: dict[str, float] = {}  # the control chart's limit of each agent's change column
        self.index = 0

    def on_mount(self) -> None:
        self.redraw()

    @property
    def metric(self) -> str:
        return self.metrics[self.index][0]

    def next_metric(self) -> str:
        """Show the next metric of the list; returns its name."""
        self.index = (self.index + 1) % len(self.metrics)
        self.redraw()
        return self.metric

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.xlabel("round t")
        name, label, columns = self.metrics[self.index]
        label = "‖D‖_F" if name == FROBENIUS else label
        if name == CHANGE:  # the control chart: each agent's statistic (its limit dashed), not the p-values
            columns = [c for c in columns if c != CHANGED_SHARE and not c.startswith(CHANGE_P)] or columns
            label = "control chart: distance from round s"
        one = columns[0] if len(columns) == 1 else None
        proxy = self.gmm.get(one) if self.gmm is not None and one else None
        if self.gmm_upto is not None and self.gmm is not None:  # GMM mode: every replicate of each column
            rounds = np.arange(self.gmm_upto + 1).tolist()
            for c, column in enumerate(columns):
                for r, line in enumerate(self.gmm[column][:, : self.gmm_upto + 1][:7]):
                    tag = f"replicate {r}" if len(columns) == 1 else f"{column} r{r}"
                    plt.plot(rounds, line.tolist(), color=rgb_of(r + c), label=tag)
            if name == FROBENIUS and self.theory is not None:  # the proof beside the replicates
                for column, tag in (("appendix_a", "Appendix A"), ("with_draw_noise", "+ draws' noise")):
                    mean = self.theory[column][:, : self.gmm_upto + 1].mean(axis=0)
                    plt.plot(
                        rounds, mean.tolist(), color="gray", label=tag, marker="dot" if "+" in tag else "-"
                    )
            plt.title(f"{label} of the GMM network")
        elif self.llm:
            xs = [t for t, _ in self.llm]
            table = {c: np.array([v.get(c, np.nan) for _, v in self.llm], dtype=float) for c in columns}
            normal = self.show_gmm and proxy is not None and table[one][0] > 0
            for c, (column, ys) in enumerate(table.items()):
                tag = "LLM network" if one else column.removeprefix(f"{name}_").removeprefix(f"{name}__")
                plt.plot(
                    xs, (ys / ys[0] if normal else ys).tolist(), color=rgb_of(c), label=tag, marker="dot"
                )
            for c, column in enumerate(table):
                if column in self.limits and self.limits[column] == self.limits[column]:  # not NaN
                    plt.hline(self.limits[column], color=rgb_of(c))
            if normal:
                gmm = proxy.mean(axis=0)[: max(xs) + 1]
                plt.plot(
                    list(range(len(gmm))),
                    (gmm / gmm[0] if gmm[0] > 0 else gmm).tolist(),
                    color=rgb_of(len(columns)),
                    label="GMM proxy",
                    marker="braille",
                )
            plt.title(f"{label} / {label} at t=0" if normal else f"{label} over rounds")
        else:
            plt.title(f"{label} — waiting for round 0")
        self.refresh()


class MDSPlot(PlotextPlot):
    """The current round's answers in 2-D (classical MDS, aligned to the previous round), a colour per agent;
    or (``v``) the perspective space over time: each agent's (a large network: each group's) mean answer of
    every round so far, embedded jointly (:func:`~lwd.metrics.perspective.joint_means`), one line per agent."""

    def trajectories(self, centroids: dict[int, np.ndarray], groups: list[Group]) -> None:
        """``centroids``: {round: (groups, d) mean answer of each group}, drawn as one line per group."""
        plt = self.plt
        plt.clear_data()
        rounds = sorted(centroids)
        coords = joint_means(np.stack([centroids[t] for t in rounds]))  # (T, groups, 2)
        for k, group in enumerate(groups):
            path = coords[:, k]
            keep = np.isfinite(path).all(axis=1)
            if keep.any():
                plt.plot(path[keep, 0].tolist(), path[keep, 1].tolist(), color=rgb_of(k), label=group.label)
        plt.title(f"perspective space, rounds {rounds[0]}–{rounds[-1]} (mean answers, joint MDS)")
        self.refresh()

    def show(self, t: int, coords: np.ndarray, owners: np.ndarray, groups: list[Group]) -> None:
        """A colour per group: each agent of a small network, its communities or models past DENSE_AGENTS."""
        plt = self.plt
        plt.clear_data()
        owned = group_index(groups)[owners] if len(owners) else owners
        for k, group in enumerate(groups):
            pts = coords[owned == k]
            if len(pts):
                plt.scatter(
                    pts[:, 0].tolist(), pts[:, 1].tolist(), color=rgb_of(k), label=group.label, marker="dot"
                )
        plt.title(f"answers at t = {t} (MDS)")
        self.refresh()


class GMMPane(PlotextPlot):
    """The GMM proxy's mixture densities at a round (replicate 0; first coordinate when d > 1)."""

    def show(self, run: GMMRun, t: int) -> None:
        plt = self.plt
        plt.clear_data()
        x = density_grid(run.means, run.cov, 200)
        for i, density in enumerate(marginal_densities(run.means, run.cov, run.weights[0, t][:7], x)):
            plt.plot(x.tolist(), density.tolist(), color=rgb_of(i), marker="braille")
        plt.title(f"GMM proxy densities, t = {t}")
        self.refresh()


class DistanceTable(DataTable):
    """D⁽ᵗ⁾, the distances between the agents' mean answers."""

    def show(self, agents: list[str], distance: tuple[tuple[float, ...], ...]) -> None:
        # explicit widths: measuring them from the content races with a table cleared every round
        self.clear(columns=True)
        if len(distance) != len(agents):  # a large network's record keeps no D (its means are in the arrays)
            self.add_column("D", width=60)
            self.add_row(f"{len(agents)} agents: D is not listed (its {len(agents) ** 2:,} entries)")
            return
        self.add_column("D", width=max(len("D"), *map(len, agents)))
        for name in agents:
            self.add_column(name, width=max(len(name), len("0.000")))
        for name, row in zip(agents, distance, strict=True):
            self.add_row(name, *(f"{v:.3f}" for v in row))


class ResponseItem(ListItem):
    """One agent's round in the log: its posted answer; Enter opens every answer and the posts it read."""

    def __init__(self, round_: int, index: int, agent: AgentRound):
        self.round, self.agent = round_, agent
        posted = (
            agent.responses[agent.posted_sample].clean if agent.posted_sample is not None else "(no answer)"
        )
        failed = sum(r.failed for r in agent.responses)
        line = Text.assemble(
            (f"r{round_:<3} ", "dim"),
            (f"{agent.agent:<10} ", f"bold {color_of(index)}"),
            posted,
            (f"  [{failed} failed]" if failed else "", "red"),
        )
        super().__init__(Label(line))


class ResponseLog(ListView):
    """The latest answers, one line per agent and round, newest last (older lines are dropped)."""

    LIMIT = 400

    def add_round(self, t: int, agents: tuple[AgentRound, ...], names: list[str]) -> None:
        index = {name: i for i, name in enumerate(names)}
        for agent in agents[-self.LIMIT :]:  # a large network: only the lines the log keeps are made
            self.append(ResponseItem(t, index[agent.agent], agent))
        while len(self.children) > self.LIMIT:
            self.children[0].remove()
        self.index = len(self.children) - 1


class StatusBar(Static):
    """One line: round, k_t, |A_t|, synthetic share, throughput, state and each agent's health."""
