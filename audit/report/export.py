"""Optional static PNG export of the report's figures; never fails the report.

Measured on this project's machine (Debian chromium 156, plotly 7, kaleido 1.5):
kaleido's ``plotly.io.write_images`` drives /usr/bin/chromium and writes six
figures in ~4.5 s (one browser session); the fallback, one
``chromium --headless --screenshot`` per figure, takes ~2.4 s per figure.

Chromium makes DNS queries and outside connections even with
``--disable-background-networking``, so the screenshot path runs it in a fresh
network namespace (``unshare -rn``: loopback only) with name resolution mapped to
nothing and a dead proxy (:data:`CHROMIUM_FLAGS`). Where the namespace is available
that path goes first, since kaleido's own Chromium cannot be isolated.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["export_pngs", "find_chromium", "CHROMIUM_FLAGS", "no_network_prefix"]

#: Flags for a quiet, offline, throw-away headless Chromium.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no name resolves and every request goes to a closed local port: nothing leaves the machine
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-features=MediaRouter,OptimizationHints,Translate,AutofillServerCommunication",
)


def no_network_prefix() -> list[str]:
    """Command prefix that runs a program without network access (a fresh network namespace), or ``[]``.

    ``unshare -rn`` gives the program a network namespace with only a loopback device that is
    down; it needs unprivileged user namespaces (most Linux systems). Where that is refused the
    flags in :data:`CHROMIUM_FLAGS` still stop name resolution and route requests to a closed port.

    Examples
    --------
    >>> no_network_prefix() in ([], ["unshare", "-rn"])
    True
    """
    exe = shutil.which("unshare")
    if exe is None:
        return []
    try:
        ok = subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return ["unshare", "-rn"] if ok else []


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None.

    Examples
    --------
    >>> find_chromium() is None or Path(find_chromium()).exists()
    True
    """
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _as_figure(fig: Any):
    import plotly.graph_objects as go

    return fig if isinstance(fig, go.Figure) else go.Figure(fig)


def _kaleido(figs: list, paths: list[Path]) -> None:
    import kaleido  # noqa: F401  (optional extra `png`)
    import plotly.io as pio

    pio.write_images([_as_figure(f) for f in figs], [str(p) for p in paths], width=900, height=500)


def _chromium(figs: list, paths: list[Path], *, browser: str, timeout: float) -> None:
    import plotly.offline

    isolate = no_network_prefix()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "plotly.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        for i, (fig, path) in enumerate(zip(figs, paths, strict=True)):
            page = t / f"f{i}.html"
            page.write_text(
                '<html><body style="margin:0"><div id="f" style="width:900px;height:500px"></div>'
                '<script src="plotly.js"></script><script>var f=' + _as_figure(fig).to_json().replace("<", "\\u003c")
                + ';Plotly.newPlot("f",f.data,f.layout,{staticPlot:true});</script></body></html>',
                encoding="utf-8",
            )
            tmp_png = path.with_suffix(".tmp.png")
            subprocess.run(
                [*isolate, browser, *CHROMIUM_FLAGS, f"--user-data-dir={t / 'profile'}", "--window-size=900,500",
                 "--virtual-time-budget=5000", f"--screenshot={tmp_png}", page.as_uri()],
                capture_output=True, timeout=timeout, check=False,
            )
            if not tmp_png.exists() or tmp_png.stat().st_size == 0:
                raise RuntimeError(f"chromium wrote no screenshot for {path.name}")
            tmp_png.replace(path)


def export_pngs(figures: list[tuple[str, Any]], out_dir: Path, *, timeout: float = 60.0) -> dict:
    """Write ``out_dir/NAME.png`` for each ``(name, figure)``; report what worked.

    Tries kaleido (if installed), then a headless Chromium screenshot per
    figure. Any failure is recorded, never raised.

    Returns
    -------
    dict
        ``{"method": "kaleido" | "chromium" | None, "written": [file names], "errors": [str]}``.

    Examples
    --------
    >>> export_pngs([], Path("."))["written"]
    []
    """
    result: dict = {"method": None, "written": [], "errors": []}
    if not figures:
        return result
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [n for n, _ in figures]
    figs = [f for _, f in figures]
    paths = [out_dir / f"{n}.png" for n in names]
    attempts = [("kaleido", lambda: _kaleido(figs, paths))]
    browser = find_chromium()
    if browser:
        attempts.append(("chromium", lambda: _chromium(figs, paths, browser=browser, timeout=timeout)))
        if no_network_prefix():  # kaleido's Chromium cannot be put in a network namespace: ours goes first
            attempts.reverse()
    for method, run in attempts:
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - exports are optional by design
            result["errors"].append(f"{method}: {type(exc).__name__}: {exc}"[:300])
            continue
        result["method"] = method
        result["written"] = [p.name for p in paths if p.exists()]
        break
    return result
