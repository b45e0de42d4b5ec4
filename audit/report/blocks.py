"""What a report is made of: sections holding blocks (text, table, chart, image grid, code).

A block knows how to render itself to HTML (given a :class:`RenderContext`
that collects figure payloads and table files) and to Markdown. Any object
with these two methods is a block (:class:`Block` protocol); the dataset
audit and the probe-run report build the same dataclasses.

Untrusted text (prompts, captions, labels) is escaped here, once, for HTML
(:func:`esc`, :func:`esc_text`), inline JSON (:func:`script_json`) and Markdown
(:func:`md_escape`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from audit.files import json_safe

__all__ = [
    "esc",
    "esc_text",
    "script_json",
    "md_escape",
    "Block",
    "RenderContext",
    "ReportSection",
    "Text",
    "Table",
    "Chart",
    "GridItem",
    "ImageGrid",
    "Code",
    "slug",
    "pct",
    "thumbnail_uri",
    "image_grid",
]


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


def slug(text: str) -> str:
    """A file- and id-safe slug.

    Examples
    --------
    >>> slug("Profession x Skin tone!")
    'profession-x-skin-tone'
    """
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


@dataclass
class RenderContext:
    """Collects figure payloads and tables while sections render."""

    figures: list[tuple[str, str, Any]] = field(default_factory=list)  # (dom id, name, figure)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    section: str = ""

    def add_figure(self, name: str, figure: Any) -> str:
        fid = f"fig-{len(self.figures) + 1}"
        self.figures.append((fid, f"{self.section}__{slug(name)}" if self.section else slug(name), figure))
        return fid

    def add_table(self, name: str, frame: pd.DataFrame) -> str:
        key = f"{self.section}__{slug(name)}" if self.section else slug(name)
        self.tables[key] = frame
        return key


class Block(Protocol):
    """A piece of a report section."""

    def html(self, ctx: RenderContext) -> str: ...

    def markdown(self) -> str: ...


@dataclass
class Text:
    """A paragraph; ``kind="caveat"`` renders as a highlighted caveat. Untrusted text is escaped."""

    text: str
    kind: str = "note"

    def html(self, ctx: RenderContext) -> str:
        return f'<p class="{esc(self.kind)}">{esc(self.text)}</p>'

    def markdown(self) -> str:
        return ("> **Caveat:** " if self.kind == "caveat" else "") + md_escape(self.text)


def pct(x) -> str:
    """A share as a percentage with one decimal; ``n/a`` when missing or not finite.

    Examples
    --------
    >>> pct(0.1234), pct(None), pct(float("nan"))
    ('12.3%', 'n/a', 'n/a')
    """
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "NaN" if v != v else f"{v:.4g}"
    return str(v)


@dataclass
class Table:
    """A DataFrame shown (first ``max_rows`` rows) and saved whole as parquet under ``tables/``."""

    name: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 40
    collapsed: bool = False  # folded behind its caption (raw tables: the numbers stay one click away)

    def html(self, ctx: RenderContext) -> str:
        key = ctx.add_table(self.name, self.frame)
        shown = self.frame.head(self.max_rows)
        body = shown.to_html(escape=True, index=False, border=0, classes="tbl", na_rep="NaN", float_format=lambda v: f"{v:.4g}")
        more = (
            f'<p class="more">{len(self.frame) - len(shown)} more rows in tables/{esc(key)}.parquet</p>'
            if len(self.frame) > len(shown)
            else ""
        )
        if self.collapsed:
            return (f'<details class="table-wrap"><summary>{esc(self.caption or self.name)} '
                    f"({len(self.frame)} rows)</summary>{body}{more}</details>")
        cap = f"<h4>{esc(self.caption or self.name)}</h4>"
        return f'<div class="table-wrap">{cap}{body}{more}</div>'

    def markdown(self) -> str:
        shown = self.frame.head(min(self.max_rows, 15))
        head = "| " + " | ".join(md_escape(c) for c in shown.columns) + " |"
        rule = "|" + "---|" * len(shown.columns)
        rows = ["| " + " | ".join(md_escape(_fmt(v)) for v in row) + " |" for row in shown.itertuples(index=False)]
        title = f"**{md_escape(self.caption or self.name)}**"
        return "\n".join([title, "", head, rule, *rows])


@dataclass
class Chart:
    """A plotly figure (``plotly.graph_objects.Figure`` or its dict), rendered by the embedded plotly.js."""

    name: str
    figure: Any
    caption: str = ""

    def html(self, ctx: RenderContext) -> str:
        fid = ctx.add_figure(self.name, self.figure)
        to_json = getattr(self.figure, "to_json", None)
        payload = script_json(to_json() if to_json else self.figure)
        cap = f'<p class="caption">{esc(self.caption)}</p>' if self.caption else ""
        return (
            f'<figure><div class="figure" data-fig="{fid}-data" id="{fid}"></div>{cap}'
            f'<script type="application/json" id="{fid}-data">{payload}</script></figure>'
        )

    def markdown(self) -> str:
        return f"*Figure: {md_escape(self.caption or self.name)}* (see report.html)"


@dataclass
class GridItem:
    """One thumbnail: an image file path, raw bytes or a PIL image, with a caption."""

    image: Any
    caption: str = ""


def thumbnail_uri(image: Any, *, size: int = 160, fmt: str = "JPEG", quality: int = 85) -> str:
    """A ``data:image/...;base64,...`` URI of a compressed thumbnail no larger than ``size`` pixels.

    Raises ``OSError`` if the image cannot be read. Small images are stored as they are.

    Parameters
    ----------
    image : path, bytes or PIL.Image.Image
    size : int
        Longest side stored, in pixels.
    fmt : {"JPEG", "WEBP"}
    quality : int

    Examples
    --------
    >>> from PIL import Image
    >>> thumbnail_uri(Image.new("RGB", (8, 8)))[:23]
    'data:image/jpeg;base64,'
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        img = image.copy()
    else:
        src = io.BytesIO(image) if isinstance(image, bytes | bytearray) else Path(image)
        with Image.open(src) as opened:
            opened.load()
            img = opened.copy()
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt.upper(), quality=quality)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class ImageGrid:
    """Thumbnails embedded as data URIs; unreadable images are skipped and counted."""

    title: str
    items: list[GridItem]
    size: int = 160

    def html(self, ctx: RenderContext) -> str:
        cells, bad = [], 0
        for item in self.items:
            try:
                uri = thumbnail_uri(item.image, size=self.size)
            except (OSError, ValueError):
                bad += 1
                continue
            cap = esc(item.caption)
            cells.append(f'<div class="thumb"><img src="{uri}" alt="{cap}" title="{cap}"><span>{cap}</span></div>')
        note = f'<p class="caveat">{bad} image(s) could not be read and were skipped.</p>' if bad else ""
        return f'<div class="grid-wrap"><h4>{esc(self.title)}</h4><div class="grid">{"".join(cells)}</div>{note}</div>'

    def markdown(self) -> str:
        return f"*Image grid: {md_escape(self.title)} ({len(self.items)} images, see report.html)*"


def image_grid(
    data: pd.DataFrame,
    *,
    root: str | Path,
    concept: str,
    values: Sequence[str],
    per_value: int = 6,
    caption_columns: Sequence[str] = ("prompt",),
    seed: int = 0,
    path_column: str = "path",
) -> ImageGrid:
    """Sample up to ``per_value`` images for each concept value, captioned with the given columns.

    Examples
    --------
    >>> df = pd.DataFrame({"job": ["ceo"], "path": ["missing.png"], "prompt": ["a ceo"]})
    >>> len(image_grid(df, root=".", concept="job", values=["ceo"]).items)
    1
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    items = []
    for v in values:
        sub = data[data[concept].astype(str) == str(v)]
        take = sub.iloc[np.sort(rng.permutation(len(sub))[:per_value])] if len(sub) else sub
        for row in take.to_dict("records"):
            cap = " | ".join(f"{row[c]}" for c in caption_columns if c in row and pd.notna(row[c]))
            items.append(GridItem(Path(root) / str(row[path_column]), cap))
    return ImageGrid(f"Sample images per {concept}", items)


@dataclass
class Code:
    """Preformatted text (e.g. the run's spec as JSON)."""

    title: str
    text: str

    def html(self, ctx: RenderContext) -> str:
        return f"<details><summary>{esc(self.title)}</summary><pre>{esc(self.text)}</pre></details>"

    def markdown(self) -> str:
        return f"<details><summary>{md_escape(self.title)}</summary>\n\n```\n{self.text.replace('```', '` ` `')}\n```\n</details>"


@dataclass
class ReportSection:
    """A titled part of a report: blocks in order, plus headline numbers for ``results.json``.

    Parameters
    ----------
    title : str
        Heading (escaped).
    blocks : list of Block
        Content, in order.
    results : dict
        JSON-able headline numbers; collected into ``results.json``.
    summary : list of str
        Markdown-safe lines for ``summary.md`` (escaped when written).
    key : str
        Id and file prefix; defaults to a slug of the title.

    Examples
    --------
    >>> s = ReportSection("Profession", [Text("hello")])
    >>> s.key
    'profession'
    """

    title: str
    blocks: list = field(default_factory=list)
    results: dict = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    key: str = ""

    def __post_init__(self) -> None:
        self.key = slug(self.key or self.title)
