"""A server's ``base_url`` in a scenario: one URL or a list (a pool), each http(s), each server named once —
``http://h/v1`` and ``http://H/v1/`` are one server."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from lwd.core.validation import Invalid

__all__ = ["check_urls", "endpoints"]


URL_PATTERN = re.compile(r"^https?://\S+$")


def check_urls(cls: Any, value: Any) -> Any:
    """A field validator (mode "before") for a server's ``base_url``: one URL, or a list of them (a pool), each
    http(s) and named once; a list becomes a tuple."""
    urls = value if isinstance(value, list | tuple) else [value]
    if not urls:
        raise Invalid("expected a URL or a list of URLs, got an empty list", fix="name at least one server")
    bad = [u for u in urls if not (isinstance(u, str) and URL_PATTERN.match(u))]
    if bad:
        raise Invalid(
            f"expected URLs that begin with http:// or https://, got {', '.join(map(repr, bad))}",
            fix='write each as "http://HOST:PORT/…"',
        )
    same = [_normal_url(u) for u in urls]
    twice = [u for u, key in zip(urls, same, strict=True) if same.count(key) > 1]
    if twice:
        raise Invalid(
            f"expected each server once, got the same server twice: {', '.join(map(repr, twice))}",
            fix="list each server once (a trailing '/' or the case of the host does not make another server)",
        )
    return value if isinstance(value, str) else tuple(value)


def _normal_url(url: str) -> str:
    """A URL as the server it names: scheme and host in lower case, no trailing '/'."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


def endpoints(base_url: str | tuple[str, ...]) -> tuple[str, ...]:
    """The URLs of a ``base_url`` checked by :func:`check_urls`, without trailing '/' (one URL: a pool of one)."""
    urls = (base_url,) if isinstance(base_url, str) else base_url
    return tuple(u.rstrip("/") for u in urls)
