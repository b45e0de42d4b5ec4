"""Plotly figures of the report. Every label is HTML-escaped (plotly renders its own tag subset)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.report.blocks import esc_text as esc

__all__ = ["npmi_heatmap", "bars_with_intervals", "gap_bars"]

_LAYOUT = dict(template="plotly_white", margin=dict(l=140, r=30, t=50, b=80), font=dict(size=12))


def _labels(values, *, width: int = 48) -> list[str]:
    """Escaped axis labels, long ones shortened (the tables keep them whole)."""
    out = []
    for v in values:
        s = str(v)
        out.append(esc(s if len(s) <= width else s[: width - 1] + "…"))
    return out


def npmi_heatmap(by_group: pd.DataFrame, *, concept: str, attribute: str, value: str = "npmi", title: str = "",
                 count: str | None = "n"):
    """Heatmap of ``value`` (default nPMI) with concepts as rows and attribute values as columns.

    Parameters
    ----------
    by_group : pandas.DataFrame
        Indexed by ``(concept, attribute)`` (as :attr:`AuditFrame.by_group`) with a ``value`` column.
    concept, attribute : str
        Index level names.
    value : str, default "npmi"
    title : str

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> idx = pd.MultiIndex.from_tuples([("ceo", "f"), ("ceo", "m")], names=["job", "g"])
    >>> fig = npmi_heatmap(pd.DataFrame({"npmi": [-0.5, 0.4]}, index=idx), concept="job", attribute="g")
    >>> fig.data[0].type
    'heatmap'
    """
    import plotly.graph_objects as go

    grid = by_group[value].unstack(attribute)
    rows, cols = list(grid.index), list(grid.columns)
    z = grid.to_numpy(dtype=float)
    text = np.where(np.isnan(z), "not observed", np.vectorize(lambda v: f"{v:.2f}")(np.nan_to_num(z)))
    if count and count in by_group:  # the images behind every cell, beside its value
        n = by_group[count].unstack(attribute).reindex(index=rows, columns=cols).to_numpy(dtype=float)
        counts = np.vectorize(lambda v: "" if np.isnan(v) else f"n={int(v)}")(n)
        text = np.char.add(np.char.add(text.astype(str), "<br>"), counts.astype(str))
    fig = go.Figure(
        go.Heatmap(
            z=np.where(np.isnan(z), None, z).tolist(),
            x=_labels(cols),
            y=_labels(rows),
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            text=text.tolist(),
            texttemplate="%{text}" if len(cols) <= 12 else "",  # many columns: values and counts on hover
            textfont=dict(size=11),
            colorbar=dict(title=value),
            hovertemplate=f"{esc(concept)}=%{{y}}<br>{esc(attribute)}=%{{x}}<br>{esc(value)}: %{{text}}<extra></extra>",
        )
    )
    fig.update_layout(title=esc(title), height=max(300, 28 * len(rows) + 140), **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def bars_with_intervals(
    frame: pd.DataFrame,
    *,
    concept: str,
    attribute: str,
    value: str = "proportion",
    lo: str = "proportion_lo",
    hi: str = "proportion_hi",
    reference: str | None = "proportion_ref",
    title: str = "",
):
    """Grouped bars of ``value`` per concept and attribute value, with interval whiskers and reference markers.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by ``(concept, attribute)`` with ``value``, ``lo``, ``hi`` (and optional ``reference``) columns.
    concept, attribute : str
        Index level names.
    value, lo, hi, reference : str
        Column names; ``reference`` is skipped when absent.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> idx = pd.MultiIndex.from_tuples([("ceo", "f"), ("ceo", "m")], names=["job", "g"])
    >>> df = pd.DataFrame({"proportion": [0.3, 0.7], "proportion_lo": [0.2, 0.6], "proportion_hi": [0.4, 0.8]}, index=idx)
    >>> [t.type for t in bars_with_intervals(df, concept="job", attribute="g").data]
    ['bar', 'bar']
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    df = frame.reset_index()
    for group, sub in df.groupby(attribute, sort=False):
        y = sub[value].to_numpy(dtype=float)
        fig.add_bar(
            name=esc(group),
            x=_labels(sub[concept]),
            y=np.where(np.isnan(y), None, y).tolist(),
            error_y=dict(
                type="data",
                symmetric=False,
                array=np.nan_to_num(sub[hi].to_numpy(dtype=float) - y).tolist(),
                arrayminus=np.nan_to_num(y - sub[lo].to_numpy(dtype=float)).tolist(),
            ),
            legendgroup=esc(group),
        )
        if reference and reference in sub:
            ref = sub[reference].to_numpy(dtype=float)
            fig.add_scatter(
                name=f"{esc(group)} (reference)",
                x=_labels(sub[concept]),
                y=np.where(np.isnan(ref), None, ref).tolist(),
                mode="markers",
                marker=dict(symbol="line-ew-open", size=18, line=dict(width=3)),
                legendgroup=esc(group),
            )
    fig.update_layout(title=esc(title), barmode="group", yaxis=dict(title=esc(value), range=[0, 1]), height=420, **_LAYOUT)
    fig.update_xaxes(type="category")
    return fig


def gap_bars(gaps: pd.DataFrame, *, concept: str, value: str = "gap", title: str = "", count: str | None = "n"):
    """Horizontal bars of ``value`` per concept (e.g. nPMI gaps), with ``lo``/``hi`` whiskers when present.

    Examples
    --------
    >>> g = pd.DataFrame({"job": ["ceo", "nurse"], "gap": [-0.8, 0.9], "lo": [-1.0, 0.7], "hi": [-0.6, 1.0]})
    >>> gap_bars(g, concept="job").data[0].orientation
    'h'
    """
    import plotly.graph_objects as go

    x = gaps[value].to_numpy(dtype=float)
    err = None
    if {"lo", "hi"} <= set(gaps.columns):
        err = dict(
            type="data",
            symmetric=False,
            array=np.nan_to_num(gaps["hi"].to_numpy(dtype=float) - x).tolist(),
            arrayminus=np.nan_to_num(x - gaps["lo"].to_numpy(dtype=float)).tolist(),
        )
    fig = go.Figure(
        go.Bar(
            x=np.where(np.isnan(x), None, x).tolist(),
            y=_labels([f"{c} (n={int(k)})" for c, k in zip(gaps[concept], gaps[count], strict=True)]
                      if count and count in gaps else gaps[concept]),
            orientation="h",
            error_x=err,
            marker_color=np.where(np.nan_to_num(x) >= 0, "#b2182b", "#2166ac").tolist(),
        )
    )
    fig.update_layout(title=esc(title), height=max(300, 26 * len(gaps) + 140), xaxis=dict(title=esc(value)), **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig
