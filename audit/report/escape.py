"""Escaping of untrusted text (prompts, captions, labels) for HTML, inline JSON and Markdown."""

from __future__ import annotations

import html
import json
from typing import Any

from audit.files import json_safe  # the one JSON cleaner, re-exported

__all__ = ["esc", "esc_text", "script_json", "json_safe", "md_escape"]

_SCRIPT_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def esc(value: Any) -> str:
    """HTML-escape ``str(value)`` for element content and quoted attributes.

    Examples
    --------
    >>> esc('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def esc_text(value: Any) -> str:
    """Escape ``<``, ``>`` and ``&`` only: for text plotly draws (it decodes these, not ``&quot;``).

    Examples
    --------
    >>> esc_text('<b onclick="x">')
    '&lt;b onclick="x"&gt;'
    """
    return html.escape(str(value), quote=False)


def script_json(text_or_obj: Any) -> str:
    """JSON safe to place inside ``<script>``: ``<``, ``>``, ``&`` become ``\\u003c`` etc.

    Parameters
    ----------
    text_or_obj : str or object
        A JSON string (e.g. ``fig.to_json()``) or an object to serialise.

    Examples
    --------
    >>> script_json({"p": "</script><b>"})
    '{"p": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}'
    """
    text = text_or_obj if isinstance(text_or_obj, str) else json.dumps(json_safe(text_or_obj))
    for ch, rep in _SCRIPT_SAFE.items():
        text = text.replace(ch, rep)
    return text


def md_escape(value: Any) -> str:
    """Escape text for a Markdown table cell (HTML-escaped, pipes and newlines neutralised).

    Examples
    --------
    >>> md_escape("a|<b>\\nc")
    'a\\\\|&lt;b&gt; c'
    """
    return esc(value).replace("|", "\\|").replace("\n", " ").replace("\r", " ")
