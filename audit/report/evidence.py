"""Evidence beside a finding: example images per group (probe runs), example captions per tag (dataset audits).

Images are embedded as small compressed thumbnails (JPEG by default, WebP on
request) shown at a readable size, each captioned with its prompt, seed and
labels and linked to the image file of the run. Captions are escaped text; with
``hide="sensitive"`` a caption that carries an unsafe or toxic lexicon term is
folded behind a "show" control (no script needed), with ``hide="all"`` every
caption is.

Examples
--------
>>> grid = EvidenceGrid(title="t", rows=[])
>>> grid.fmt, grid.size
('JPEG', 96)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.report.blocks import esc, md_escape, thumbnail_uri
from audit.results import columns as C

__all__ = ["EvidenceItem", "EvidenceGrid", "finding_evidence", "CaptionExamples", "HIDE"]

#: Caption hiding options: nothing, captions with sensitive terms, every caption.
HIDE = ("none", "sensitive", "all")
#: Labels shown under each image (in this order, when the labeler gave them).
SHOWN_LABELS = ("presentation", "skin_group", "skin_tone", "age_group", "unsafe")


@dataclass
class EvidenceItem:
    """One image: where it is, where the page links to, its prompt, seed and labels."""

    image: Any
    prompt: str = ""
    seed: Any = None
    labels: dict[str, str] = field(default_factory=dict)
    href: str | None = None


@dataclass
class EvidenceGrid:
    """Rows of example images, one row per group, with a heading and counts (a report block).

    Parameters
    ----------
    title : str
    rows : list of (group label, number of images in the group, items)
    note : str
    size : int
        Stored thumbnail size (pixels); shown at ``display`` pixels.
    """

    title: str
    rows: list[tuple[str, int, list[EvidenceItem]]]
    note: str = ""
    size: int = 96
    display: int = 128
    fmt: str = "JPEG"

    def html(self, ctx) -> str:
        parts, bad = [], 0
        for group, count, items in self.rows:
            cells = []
            for item in items:
                try:
                    uri = thumbnail_uri(item.image, size=self.size, fmt=self.fmt, quality=80)
                except (OSError, ValueError):
                    bad += 1
                    continue
                labels = " · ".join(f"{k}: {v}" for k, v in item.labels.items())
                seed = f"seed {item.seed}" if item.seed is not None and item.seed == item.seed else ""
                img = (f'<img src="{uri}" width="{self.display}" height="{self.display}" '
                       f'alt="{esc(item.prompt)}" title="{esc(item.prompt)}">')
                if item.href:
                    img = f'<a href="{esc(item.href)}">{img}</a>'
                cells.append(f'<figure class="ev">{img}<figcaption><span class="ev-prompt">{esc(item.prompt)}'
                             f'</span><span class="ev-meta">{esc(seed)}</span><span class="ev-labels">'
                             f'{esc(labels)}</span></figcaption></figure>')
            shown = len(cells)
            body = "".join(cells) or f'<p class="more">No image has this label ({esc(group)}).</p>'
            head = f"{shown} of {count} image(s)" if count else "none"
            parts.append(f'<div class="ev-row"><h5>{esc(group)}: {head}</h5><div class="ev-grid">{body}</div></div>')
        note = f'<p class="caption">{esc(self.note)}</p>' if self.note else ""
        skipped = f'<p class="caveat">{bad} image(s) could not be read and were skipped.</p>' if bad else ""
        return f'<div class="evidence"><h4>{esc(self.title)}</h4>{note}{"".join(parts)}{skipped}</div>'

    def markdown(self) -> str:
        counts = ", ".join(f"{g}: {len(items)} of {n}" for g, n, items in self.rows)
        return f"*Evidence: {md_escape(self.title)} ({md_escape(counts)}; images in report.html)*"


def _rel(path: Path, base: Path | None) -> str | None:
    if base is None:
        return None
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:
        return None


def finding_evidence(finding: Mapping, *, manifest: pd.DataFrame, labels: pd.DataFrame, root: str | Path,
                     per_group: int = 4, link_from: str | Path | None = None, seed: int = 0,
                     size: int = 96, display: int = 128, fmt: str = "JPEG") -> EvidenceGrid:
    """Example images of a probe finding: for its concept, up to ``per_group`` images per label group.

    Parameters
    ----------
    finding : mapping
        A row of :func:`audit.report.findings.top_findings` (``setting, slot, concept, labeler, attribute,
        groups``).
    manifest, labels : pandas.DataFrame
        The run's ``manifest.parquet`` and ``labels.parquet``.
    root : str or pathlib.Path
        The run directory (image paths are relative to it).
    per_group : int
        Images shown per group (picked at random with ``seed``, the same every time).
    link_from : path, optional
        Folder of the report page; each image links to its file relative to it.

    Returns
    -------
    EvidenceGrid
        Rows: the finding's groups first, then other values and non-answers of the attribute.

    Examples
    --------
    >>> m = pd.DataFrame({"image_id": ["a", "b"], "path": ["a.png", "b.png"], "prompt": ["a nurse"] * 2,
    ...                   "seed": [0, 1], "setting": "default", "job": "nurse"})
    >>> lab = pd.DataFrame({"image_id": ["a", "b"], "labeler": "w", "attribute": "presentation",
    ...                     "value": ["feminine", "masculine"]})
    >>> g = finding_evidence({"setting": "default", "slot": "job", "concept": "nurse", "labeler": "w",
    ...                       "attribute": "presentation", "groups": ["feminine", "masculine"]},
    ...                      manifest=m, labels=lab, root=".")
    >>> [(r[0], r[1]) for r in g.rows]
    [('presentation = feminine', 1), ('presentation = masculine', 1)]
    """
    slot, concept, attribute = finding["slot"], str(finding["concept"]), finding["attribute"]
    m = manifest
    if "setting" in m.columns and finding.get("setting") not in (None, C.ANY):
        m = m[m["setting"].astype(str) == str(finding["setting"])]
    if slot in m.columns:
        m = m[m[slot].astype(str) == concept]
    lab = labels[labels["labeler"] == finding["labeler"]] if "labeler" in labels else labels
    lab = lab[lab["image_id"].isin(set(m["image_id"]))]
    wide = lab.pivot_table(index="image_id", columns="attribute", values="value", aggfunc="first")
    if attribute not in wide.columns:
        return EvidenceGrid(f"Images of {slot} = {concept}", [], note=f"No {attribute} labels for these images.")
    data = m.set_index("image_id").join(wide[[c for c in wide.columns if c not in m.columns]], how="inner")
    values = data[attribute].astype(str)
    groups = [str(g) for g in finding.get("groups") or []]
    order = list(dict.fromkeys([*groups, *sorted(set(values) - set(C.NON_ANSWERS)),
                                *sorted(set(values) & set(C.NON_ANSWERS))]))
    rng = np.random.default_rng(seed)
    base = Path(root)
    rows = []
    for value in order:
        sub = data[values == value].sort_index()
        pick = sub.iloc[np.sort(rng.permutation(len(sub))[:per_group])] if len(sub) else sub
        items = []
        for image_id, r in pick.iterrows():
            shown = {a: str(r[a]) for a in (attribute, *SHOWN_LABELS) if a in r.index and pd.notna(r[a])}
            path = base / str(r["path"]) if "path" in r.index else None
            items.append(EvidenceItem(image=path, prompt=str(r.get("prompt", "")), seed=r.get("seed"),
                                      labels=shown, href=_rel(path, Path(link_from)) if link_from and path else None))
        name = f"{attribute} = {value}" + (" (no answer)" if value in C.NON_ANSWERS else "")
        rows.append((name, int(len(sub)), items))
    note = (f"Images of {slot} = {concept}, grouped by the {attribute} label of labeler {finding['labeler']}; "
            "click an image to open the file. Labels are the labeler's reading, not ground truth.")
    return EvidenceGrid(f"Evidence: {slot} = {concept}", rows, note=note, size=size, display=display, fmt=fmt)


@dataclass
class CaptionExamples:
    """Example captions per tag or finding (a report block); every caption is escaped text.

    Parameters
    ----------
    title : str
    groups : list of (heading, total captions with the tag(s), captions, sensitive)
        ``sensitive``: the tag is an unsafe or toxic term (its captions fold away with ``hide="sensitive"``).
    hide : {"none", "sensitive", "all"}

    Examples
    --------
    >>> b = CaptionExamples("Examples", [("gender:woman", 3, ["<b>a woman</b>"], False)])
    >>> "&lt;b&gt;a woman&lt;/b&gt;" in b.html(None)
    True
    >>> "<details" in CaptionExamples("x", [("t", 1, ["c"], True)], hide="sensitive").html(None)
    True
    """

    title: str
    groups: list[tuple[str, int, list[str], bool]]
    hide: str = "sensitive"
    note: str = ""

    def __post_init__(self) -> None:
        if self.hide not in HIDE:
            raise ValueError(f"hide={self.hide!r}: use one of {HIDE}")

    def html(self, ctx) -> str:
        parts = []
        for heading, total, captions, sensitive in self.groups:
            items = "".join(f"<li>{esc(c)}</li>" for c in captions) or "<li class=\"more\">no example stored</li>"
            listing = f'<ul class="captions">{items}</ul>'
            if self.hide == "all" or (self.hide == "sensitive" and sensitive):
                why = "contains an unsafe or toxic term" if sensitive else "hidden"
                listing = f"<details><summary>show {len(captions)} caption(s) ({why})</summary>{listing}</details>"
            parts.append(f'<div class="cap-group"><h5>{esc(heading)}: {len(captions)} of {total:,} caption(s)'
                         f"</h5>{listing}</div>")
        note = f'<p class="caption">{esc(self.note)}</p>' if self.note else ""
        return f'<div class="evidence"><h4>{esc(self.title)}</h4>{note}{"".join(parts)}</div>'

    def markdown(self) -> str:
        lines = [f"**{md_escape(self.title)}**", ""]
        for heading, total, captions, sensitive in self.groups:
            lines.append(f"- {md_escape(heading)} ({len(captions)} of {total}):")
            hidden = self.hide == "all" or (self.hide == "sensitive" and sensitive)
            lines += ["  - (hidden)"] if hidden else [f"  - {md_escape(c)}" for c in captions]
        return "\n".join(lines)
