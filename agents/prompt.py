"""What an agent reads: the retrieved posts and the fixed query, as chat messages or a completion prompt.

The default follows the paper (Section 4.1): the posts sampled from the Internet, then the query
"Please provide EXACTLY one concise sentence about the future prospects of Bitcoin." Templates are
``str.format`` strings with ``{posts}`` and ``{query}``; each post is written as ``- text`` on its own line.

``layout = "shared-first"`` (opt-in) lays the prompt out for servers that cache prompt prefixes (vLLM, SGLang,
llama.cpp): what every agent shares comes first — the chat template's own head, then the query — and what differs
after it: the persona (in the user message, not a system message, which chat templates put first), then the
posts. The answers change (another prompt); the manifest records the layout.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = [
    "PAPER_QUERY",
    "CHAT_TEMPLATE",
    "COMPLETION_TEMPLATE",
    "SHARED_FIRST_CHAT",
    "SHARED_FIRST_COMPLETION",
    "PromptSpec",
    "check_template",
    "listed_words",
]

PAPER_QUERY = "Please provide EXACTLY one concise sentence about the future prospects of Bitcoin."
CHAT_TEMPLATE = "Here are some posts from the Internet:\n{posts}\n\n{query}"
# Base models continue text rather than follow instructions: end on an answer cue (plus an optional
# `answer_prefix` such as "Bitcoin") and stop at the end of the line.
COMPLETION_TEMPLATE = "Recent posts from the Internet:\n{posts}\n\n{query}\n\nOne-sentence answer:"
# layout = "shared-first": the query (and then the persona) before the posts
SHARED_FIRST_CHAT = "{query}\n\nHere are some posts from the Internet:\n{posts}"
SHARED_FIRST_COMPLETION = "{query}\n\nRecent posts from the Internet:\n{posts}\n\nOne-sentence answer:"
NO_POSTS = "(no posts yet)"


def check_template(template: str) -> str:
    """Raise ValueError unless the template has {posts} and {query} and nothing else to fill."""
    import string

    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    missing = {"posts", "query"} - fields
    extra = fields - {"posts", "query"}
    if missing or extra:
        raise ValueError(
            f"expected a template with the placeholders {{posts}} and {{query}} only, got one "
            f"{'missing ' + ', '.join(sorted(missing)) if missing else ''}"
            f"{' and ' if missing and extra else ''}"
            f"{'with unknown ' + ', '.join(sorted(extra)) if extra else ''}"
            " (write literal braces as {{ and }})"
        )
    return template


@dataclass(frozen=True)
class PromptSpec:
    """How one agent turns posts into its prompt."""

    query: str = PAPER_QUERY
    template: str = CHAT_TEMPLATE
    system: str | None = None
    style: Literal["chat", "completion"] = "chat"
    answer_prefix: str = (
        ""  # completion style: text the answer starts with, written by us, kept in the answer
    )
    layout: Literal["paper", "shared-first"] = "paper"

    def text(self, posts: Sequence[str]) -> str:
        listed = "\n".join(map(_listed, posts)) or NO_POSTS
        query = self.query
        if self.layout == "shared-first" and self.system:  # the persona right after the shared query
            query = f"{query}\n\n{self.system}"
        body = self.template.format(posts=listed, query=query)
        if self.style == "completion" and self.answer_prefix:
            body = f"{body} {self.answer_prefix}"
        return body

    def messages(self, posts: Sequence[str]) -> list[BaseMessage]:
        """Chat style: an optional system message, then the user message; completion style: one text (the
        ``shared-first`` layout has the persona in that text already)."""
        from langchain_core.messages import HumanMessage, SystemMessage

        if self.layout == "shared-first":
            return [HumanMessage(self.text(posts))]
        if self.style == "completion":
            text = self.text(posts)
            return [HumanMessage(f"{self.system}\n\n{text}" if self.system else text)]
        head = [SystemMessage(self.system)] if self.system else []
        return [*head, HumanMessage(self.text(posts))]

    def answer(self, generated: str) -> str:
        """The full answer: the answer prefix we wrote, then what the model generated."""
        if self.style == "completion" and self.answer_prefix:
            return (
                f"{self.answer_prefix}{generated}"
                if generated[:1].isspace()
                else f"{self.answer_prefix} {generated}"
            )
        return generated


@functools.lru_cache(maxsize=1 << 16)
def _listed(post: str) -> str:
    """A post as the prompt lists it, on one line. Cached: in a large network the same post is read by many
    agents in a round."""
    return f"- {' '.join(post.split())}"


@functools.lru_cache(maxsize=1 << 16)
def listed_words(post: str) -> int:
    """Words of a post as the prompt lists it (``- `` and its words): a cheap guide to its tokens."""
    return 1 + len(post.split())
