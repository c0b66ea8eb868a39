"""Asking a server before (and during) a run: JSON over HTTP, never through a proxy from the environment; an
answer that is not the JSON asked for as a :class:`BadAnswer` naming what came instead; the
:class:`~lwd.agents.factory.Check` of a server that answers wrongly or not at all."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from lwd.agents.factory import Check

__all__ = ["BadAnswer", "http_json", "expect", "bad_answer", "unreachable"]

# a server on this machine must be reached directly, never through an http_proxy from the environment
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BadAnswer(Exception):
    """A server answered, but not with the JSON asked for: an HTTP error status, an HTML page, a wrong shape."""

    def __init__(self, url: str, status: int, content_type: str, body: bytes, why: str = ""):
        excerpt = " ".join(body[:120].decode("utf-8", "replace").split())
        super().__init__(
            f"{url} answered HTTP {status} ({content_type or 'no content type'})"
            + (f": {why}" if why else "")
            + (f"; it begins {excerpt!r}" if excerpt else "")
        )
        self.status = status


def http_json(url: str, body: dict | None = None, timeout: float = 10.0, headers: dict | None = None) -> Any:
    """GET (or POST ``body``) JSON; loopback and LAN servers are reached without proxies. Nothing answering is
    an OSError; an answer that is not JSON (an error status, a web page) is a :class:`BadAnswer`."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            status, content_type, raw = response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as exc:
        raise BadAnswer(
            url, exc.code, exc.headers.get_content_type() if exc.headers else "", exc.read()
        ) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadAnswer(url, status, content_type, raw, "not JSON") from None


def expect(url: str, listed: Any, key: str, what: str) -> list[dict]:
    """``listed[key]``, a list of objects, or a BadAnswer saying the answer has the wrong shape."""
    entries = listed.get(key) if isinstance(listed, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadAnswer(
            url, 200, "application/json", json.dumps(listed).encode(), f"no `{key}` list of {what}"
        )
    return entries


def bad_answer(config, endpoint: str, exc: BadAnswer, expected: str) -> Check:
    return Check(
        config.name,
        config.backend,
        endpoint,
        True,
        False,
        detail=str(exc),
        fix=f"something answers at {endpoint}, but not {expected}: check base_url"
        + (" (it ends in /v1 for OpenAI-compatible servers)" if config.backend == "openai" else "")
        + (" and the API key" if exc.status in (401, 403) else ""),
    )


def unreachable(config, endpoint: str, exc: BaseException, start_hint: str) -> Check:
    return Check(
        config.name,
        config.backend,
        endpoint,
        False,
        detail=f"{type(exc).__name__}: {exc}",
        fix=f"nothing answers at {endpoint}: {start_hint}, or correct base_url",
    )
