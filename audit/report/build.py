"""Write a report: self-contained ``report.html`` + ``report.json`` (its index) + ``summary.md`` + ``tables/*.parquet``."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit import __version__
from audit.files import atomic_write_bytes, json_safe
from audit.report.blocks import Code, RenderContext, ReportSection, esc

__all__ = ["build_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#223;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
nav{padding:8px 28px;background:#eef}nav a{margin-right:14px}
main{padding:8px 28px;max-width:1200px}section{background:#fff;border:1px solid #ddd;border-radius:6px;
padding:12px 20px;margin:18px 0}.caveat{background:#fff6e0;border-left:4px solid #e0a000;padding:6px 10px}
table.tbl{border-collapse:collapse;font-size:12px;margin:6px 0}table.tbl td,table.tbl th{border:1px solid #ddd;
padding:3px 6px;text-align:right}table.tbl th{background:#f1f1f6}.table-wrap{overflow-x:auto}
.grid{display:flex;flex-wrap:wrap;gap:8px}.thumb{width:170px;font-size:11px;word-wrap:break-word}
.thumb img{display:block;max-width:160px;max-height:160px}pre{background:#f4f4f4;padding:8px;overflow-x:auto;
font-size:12px}.more,.caption{color:#666;font-size:12px}figure{margin:8px 0}
*{box-sizing:border-box}img{max-width:100%}
.findings{background:#fff;border:2px solid #223;border-radius:6px;padding:10px 20px;margin:14px 0}
.findings h2{margin:4px 0 6px;font-size:19px}.findings ol{margin:6px 0;padding-left:22px}
.findings li{margin:6px 0;font-size:14px;line-height:1.4}.finding-what{font-weight:600}
.finding-meta{color:#444;font-size:12.5px;display:block}.warn{background:#fdecea;border-left:4px solid #c62828;
padding:6px 10px;margin:6px 0}.rule{color:#555;font-size:12px}
.evidence{margin:10px 0}.ev-row h5{margin:8px 0 4px;font-size:13px}.ev-grid{display:flex;flex-wrap:wrap;gap:10px}
figure.ev{margin:0;width:150px;font-size:11.5px;line-height:1.3;overflow-wrap:anywhere}
figure.ev img{display:block;image-rendering:pixelated;border:1px solid #ccc;width:128px;height:128px}
figure.ev span{display:block}.ev-prompt{color:#222}.ev-meta,.ev-labels{color:#555}
ul.captions{margin:4px 0;padding-left:20px;font-size:12.5px;overflow-wrap:anywhere}
details>summary{cursor:pointer;color:#335}td,th{overflow-wrap:anywhere}
table.gloss td{text-align:left;vertical-align:top}.nodata{color:#555;font-style:italic}
"""

_RENDER_JS = """
(function(){
  var divs = document.querySelectorAll('div.figure[data-fig]');
  for (var i = 0; i < divs.length; i++) {
    var div = divs[i];
    var spec = JSON.parse(document.getElementById(div.getAttribute('data-fig')).textContent);
    Plotly.newPlot(div, spec.data || [], spec.layout || {}, {responsive: true, displaylogo: false});
  }
})();
"""


_VENDOR = Path(__file__).resolve().parent / "vendor" / "plotly-cartesian.min.js"


def plotly_js() -> tuple[str, str]:
    """``(source, name)`` of the plotly.js inlined in a report: the vendored cartesian bundle (1.5 MB) when it
    matches the installed plotly's plotly.js version, else the full bundle (4.8 MB).

    Examples
    --------
    >>> plotly_js()[1] in ("cartesian", "full")
    True
    """
    import plotly.offline

    version = plotly.offline.get_plotlyjs_version()
    if _VENDOR.is_file():
        src = _VENDOR.read_text(encoding="utf-8")
        if f" v{version}\n" in src[:200]:
            return src, "cartesian"
    return plotly.offline.get_plotlyjs(), "full"


def _page(title: str, nav: str, body: str, nonce: str, *, charts: bool = True) -> str:
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><div>imagen-audit {esc(__version__)}</div></header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        + (f'<script nonce="{nonce}">{plotly_js()[0]}</script>'
           f'<script nonce="{nonce}">{_RENDER_JS}</script>' if charts else "")
        + "</body></html>\n"
    )


def build_report(
    sections: Sequence[ReportSection],
    *,
    spec: dict[str, Any] | None,
    out_dir: str | Path,
    title: str = "imagen-audit report",
    export_png: bool | None = None,
) -> Path:
    """Render sections into ``out_dir``: report.html, report.json, summary.md, tables/, figures/.

    ``report.json`` indexes the report (sections, tables, figures, PNG export); the numbers
    of a probe run live in its results table (:mod:`audit.results`), not here.

    Parameters
    ----------
    sections : sequence of ReportSection
        In display order; a final "Run spec" section is added when ``spec`` is given.
    spec : dict or None
        The run's spec, shown verbatim (escaped) and stored in report.json.
    out_dir : str or pathlib.Path
        Created if needed. Each file is written atomically; ``report.html`` last.
    title : str
        Page title (escaped).
    export_png : bool or None
        Write ``figures/*.png`` (None: only when kaleido or Chromium is available).
        Export failures are recorded in report.json, never raised.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> from audit.report.blocks import Text
    >>> p = build_report([ReportSection("Hello", [Text("<b>hi</b>")])], spec={"a": 1},
    ...                  out_dir=tempfile.mkdtemp(), export_png=False)
    >>> "&lt;b&gt;hi&lt;/b&gt;" in p.read_text()
    True
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    sections = list(sections)
    if spec is not None:
        sections.append(ReportSection("Run spec", [Code("spec.json", json.dumps(json_safe(spec), indent=2))], key="spec"))
    ctx = RenderContext()
    parts, nav = [], []
    for sec in sections:
        ctx.section = sec.key
        inner = "".join(block.html(ctx) for block in sec.blocks)
        parts.append(f'<section id="{esc(sec.key)}"><h2>{esc(sec.title)}</h2>{inner}</section>')
        nav.append(f'<a href="#{esc(sec.key)}">{esc(sec.title)}</a>')
    for key, frame in ctx.tables.items():
        tmp = out / "tables" / f".{key}.parquet.tmp"
        frame.reset_index(drop=False if frame.index.name or frame.index.nlevels > 1 else True).to_parquet(tmp, index=False)
        os.replace(tmp, out / "tables" / f"{key}.parquet")
    png = {"method": None, "written": [], "errors": []}
    if export_png is not False:
        from audit.report.export import export_pngs, find_chromium

        wanted = export_png or find_chromium() is not None
        if wanted:
            png = export_pngs([(name, fig) for _, name, fig in ctx.figures], out / "figures")
    results = {
        "title": title,
        "imagen_audit_version": __version__,
        "spec": spec,
        "sections": [{"key": s.key, "title": s.title, "results": s.results} for s in sections],
        "tables": [f"tables/{k}.parquet" for k in ctx.tables],
        "figures": [name for _, name, _ in ctx.figures],
        "png_export": png,
    }
    atomic_write_bytes(out / "report.json", json.dumps(json_safe(results), indent=2, allow_nan=False))
    md = [f"# {esc(title)}", ""]
    for sec in sections:
        md += [f"## {esc(sec.title)}", ""]
        md += [f"- {esc(line)}" for line in sec.summary] + ([""] if sec.summary else [])
        md += [block.markdown() + "\n" for block in sec.blocks]
    atomic_write_bytes(out / "summary.md", "\n".join(md))
    nonce = secrets.token_urlsafe(16)
    report = out / "report.html"
    atomic_write_bytes(report, _page(title, "".join(nav), "".join(parts), nonce, charts=bool(ctx.figures)))
    return report
