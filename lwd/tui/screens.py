"""Screens over the main view: the scenario picker and one agent's round in full."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from lwd.run.records import AgentRound
from lwd.scenarios import available, summary

__all__ = ["PickerScreen", "ResponseScreen", "scenario_choices"]


def scenario_choices(here: Path) -> list[tuple[str, Path, str]]:
    """(label, path, description) of the shipped scenarios and the .toml files in ``here`` and here/scenarios."""

    found = [(f"{name}", path, " · ".join(summary(path))) for name, path in available().items()]
    own = sorted({*here.glob("*.toml"), *(here / "scenarios").glob("*.toml")} - {p for _, p, _ in found})
    found += [(str(p.relative_to(here)), p, " · ".join(summary(p))) for p in own]
    return found


class PickerScreen(Screen[Path]):
    """Choose a scenario: the shipped ones and your own files. Returns its path."""

    BINDINGS = [Binding("q", "app.quit", "quit")]

    def __init__(self, here: Path):
        super().__init__()
        self.choices = scenario_choices(here)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("Choose a scenario (Enter to run it):", id="picker-title")
        yield OptionList(
            *(
                Option(Text.assemble((label, "bold"), "  ", (about, "dim")), id=str(i))
                for i, (label, _, about) in enumerate(self.choices)
            ),
            id="picker",
        )
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id)][1])


class ResponseScreen(ModalScreen[None]):
    """Every answer of one agent in one round, raw and clean, and the posts it read."""

    BINDINGS = [Binding("escape,q,enter", "close", "close")]

    def __init__(self, round_: int, agent: AgentRound, posts: dict[str, str]):
        super().__init__()
        self.round, self.agent, self.posts = round_, agent, posts

    def compose(self) -> ComposeResult:
        a = self.agent
        body = Text()
        body.append(f"{a.agent}, round {self.round}", "bold")
        body.append(
            f"  — read {a.k_used} of {a.k if a.k is not None else len(a.retrieved)} posts drawn, {a.seconds:.1f} s, prompt "
            f"{a.prompt_tokens or '?'} tokens, {a.retries} retries\n\n",
            "dim",
        )
        for r in a.responses:
            mark = "posted " if r.sample == a.posted_sample else ""
            body.append(f"[{r.sample}] {mark}seed {r.seed}", "bold" if mark else "")
            body.append(f"  {r.tokens or '?'} tokens, {r.attempts} attempt(s)\n", "dim")
            body.append(f"    {r.clean or '(empty)'}\n", "red" if r.failed else "")
            if r.raw.strip() and r.raw.strip() != r.clean:
                body.append(f"    raw: {r.raw.strip()[:400]}\n", "dim")
            if r.error:
                body.append(f"    error: {r.error}\n", "red")
        body.append("\nposts read\n", "bold")
        for post_id in a.retrieved[: a.k_used]:
            body.append(f"  {post_id}: ", "dim")
            body.append(f"{self.posts.get(post_id, '(not loaded)')}\n")
        with VerticalScroll(id="response-body"):
            yield Static(body)

    def action_close(self) -> None:
        self.dismiss()
