"""Build the report of a probe run directory (spec.json, manifest.parquet, labels.parquet, images/)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from audit.errors import UserError
from audit.metrics import wide_labels
from audit.report.analysis import association_section, image_grid, labeler_card_section
from audit.report.blocks import Text, slug
from audit.report.build import build_report

__all__ = ["report_from_run_dir", "read_run_dir", "spec_references", "read_table", "MANIFEST_COLUMNS", "ATTRIBUTES"]

#: Manifest columns that are not prompt slots.
MANIFEST_COLUMNS = ("image_id", "path", "prompt", "prompt_id", "template_id", "seed", "sample", "setting")
#: Labelled attributes analysed per concept, in display order.
ATTRIBUTES = ("presentation", "skin_group", "skin_tone", "age_group", "unsafe")
#: Every value of the world labeler's attributes (labels schema), so unobserved values count as 0.
ATTRIBUTE_VALUES = {
    "presentation": ("feminine", "masculine", "androgynous"),
    "skin_group": ("light", "medium", "dark"),
    "skin_tone": tuple(str(i) for i in range(1, 11)),
    "age_group": ("young", "adult", "older"),
    "unsafe": ("false", "true"),
}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` table, with a clear error if it cannot be read.

    Examples
    --------
    >>> read_table("missing.csv")
    Traceback (most recent call last):
    audit.errors.UserError: missing.csv: file not found (fix: check the path)
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found (fix: check the path)")
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - re-raised as a user error naming the file
        raise UserError(f"{path}: cannot read table ({type(exc).__name__}: {exc}) (fix: regenerate the file)") from exc


def read_run_dir(run_dir: str | Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """``(spec, manifest, labels)`` of a run directory, validated.

    Examples
    --------
    >>> read_run_dir("no/such/run")
    Traceback (most recent call last):
    audit.errors.UserError: no/such/run: not a run directory (fix: pass the folder holding spec.json, manifest.parquet and labels.parquet)
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(
            f"{run}: not a run directory (fix: pass the folder holding spec.json, manifest.parquet and labels.parquet)"
        )
    spec_path = run / "spec.json"
    if not spec_path.exists():
        raise UserError(f"{spec_path}: file not found (fix: re-run the probe run, which writes it)")
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{spec_path}:{exc.lineno}: invalid JSON: {exc.msg} (fix: repair or regenerate spec.json)") from exc
    manifest = read_table(run / "manifest.parquet")
    labels_path = run / "labels.parquet"
    if not labels_path.exists():
        raise UserError(f"{labels_path}: file not found (fix: run the labelers on this run first)")
    labels = read_table(labels_path)
    for name, frame, cols in (
        ("manifest.parquet", manifest, ["image_id", "path", "prompt", "prompt_id"]),
        ("labels.parquet", labels, ["image_id", "labeler", "attribute", "value"]),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise UserError(f"{run / name}: field(s) {missing} missing (fix: regenerate {name} with the current version)")
    if "confidence" not in labels.columns:
        labels = labels.assign(confidence=float("nan"))
    return spec, manifest, labels


def spec_references(spec: dict, *, slot: str) -> dict[str, pd.DataFrame]:
    """The suite's references for one slot as ``{attribute: [slot, attribute, p, source]}`` (shares of the named value).

    Examples
    --------
    >>> spec = {"suite": {"references": [{"slot": "profession", "attribute": "presentation",
    ...          "value": "feminine", "source": "BLS", "percent": {"nurse": 89.6}}]}}
    >>> spec_references(spec, slot="profession")["presentation"].round(3).values.tolist()
    [['nurse', 'feminine', 0.896, 'BLS']]
    """
    suite = spec.get("suite") if isinstance(spec, dict) else None
    refs = suite.get("references") if isinstance(suite, dict) else None
    out: dict[str, pd.DataFrame] = {}
    for ref in refs or []:
        if not isinstance(ref, dict) or ref.get("slot") != slot or not isinstance(ref.get("percent"), dict):
            continue
        attr = str(ref.get("attribute"))
        rows = pd.DataFrame(
            {slot: [str(k) for k in ref["percent"]], attr: str(ref.get("value")),
             "p": [float(v) / 100.0 for v in ref["percent"].values()], "source": str(ref.get("source", "")).strip()}
        )
        out[attr] = pd.concat([out[attr], rows], ignore_index=True) if attr in out else rows
    return out


def report_from_run_dir(
    run_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    references: Mapping[str, pd.DataFrame] | None = None,
    confusions: Mapping[str, pd.DataFrame] | None = None,
    cluster: str | Sequence[str] = "prompt_id",
    n_resamples: int = 1000,
    seed: int = 0,
    export_png: bool | None = None,
    title: str | None = None,
) -> Path:
    """Compute the metrics of a probe run and write its report (default: ``RUN_DIR/report/``).

    One section per prompt slot (``profession``, ``activity``, ...) and sweep
    setting (and per labeler when several label the same attribute),
    analysing every labelled attribute of :data:`ATTRIBUTES`; then the labeler
    card and the run's spec.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        Holds ``spec.json``, ``manifest.parquet``, ``labels.parquet`` and the images.
    out_dir : str or pathlib.Path, optional
        Where the report goes; default ``run_dir/report``.
    references : mapping attribute -> DataFrame, optional
        Reference distributions (``[concept, attribute, p|n]``), e.g. % women per profession;
        used for the slots they have a column for, and ahead of the suite's own
        references (``spec["suite"]["references"]``, see :func:`spec_references`).
    confusions : mapping attribute -> DataFrame, optional
        Labeler confusion matrices (index true values, columns predicted values).
    cluster : str or sequence of str, default "prompt_id"
        Bootstrap cluster column(s) (``("prompt_id", "seed")`` for two-way).
    n_resamples, seed
        Bootstrap settings.
    export_png : bool or None
        See :func:`~audit.report.build_report`.
    title : str, optional

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Examples
    --------
    >>> report_from_run_dir("no/such/run")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    audit.errors.UserError: ...
    """
    run = Path(run_dir)
    spec, manifest, labels = read_run_dir(run)
    references = dict(references or {})
    confusions = dict(confusions or {})
    slots = [c for c in manifest.columns if c not in MANIFEST_COLUMNS and manifest[c].notna().any()]
    settings = sorted(manifest["setting"].dropna().astype(str).unique()) if "setting" in manifest else []
    shared = labels.duplicated(["image_id", "attribute"]).any()  # several labelers label one attribute
    views = [(str(lab), labels[labels["labeler"] == lab]) for lab in sorted(labels["labeler"].unique())] if shared \
        else [(None, labels)]
    sections = []
    for labeler, sub_labels in views:
        wide = wide_labels(sub_labels, manifest)
        attr_cols = {a: (f"{a}_label" if a in manifest.columns else a) for a in ATTRIBUTES}
        attr_cols = {a: c for a, c in attr_cols.items() if c in wide.columns}
        for slot in slots:
            for setting in settings or [None]:
                data = wide if setting is None else wide[wide["setting"].astype(str) == setting]
                data = data[data[slot].notna()]
                if data.empty:
                    continue
                # a label whose name is also a prompt axis (``skin_tone`` in the counterfactual suite) comes
                # as ``skin_tone_label``: it replaces the axis column, except in the axis's own section
                rename = {c: a for a, c in attr_cols.items() if c != a and a != slot}
                data = data.drop(columns=[a for a in rename.values() if a in data.columns]).rename(columns=rename)
                attrs = [a for a in attr_cols if a != slot]
                parts = [setting] if setting is not None and len(settings) > 1 else []
                parts += [f"labeler {labeler}"] if labeler is not None else []
                refs = {**spec_references(spec, slot=slot), **{a: r for a, r in references.items() if slot in r.columns}}
                sec = association_section(
                    data, concept=slot, attributes=attrs,
                    title=f"Probe: {slot}" + (f" ({', '.join(parts)})" if parts else ""),
                    cluster=cluster, references=refs, confusions=confusions, values=ATTRIBUTE_VALUES,
                    n_resamples=n_resamples, seed=seed,
                )
                sec.key = slug("-".join([slot, *parts]))
                for attr, ref in refs.items():
                    for source in ref["source"].dropna().unique() if "source" in ref else []:
                        sec.blocks.insert(0, Text(f"Reference for {attr}: {source}"))
                first = next((a for a in attrs if a in sec.results), None)
                if first is not None:
                    top = [r[slot] for r in sec.results[first].get("most_skewed", [])[:4]]
                    sec.blocks.append(image_grid(data, root=run, concept=slot, values=top, per_value=6,
                                                 caption_columns=("prompt", *attrs), seed=seed))
                sections.append(sec)
    sections.append(labeler_card_section(labels, confusions=confusions))
    suite = spec.get("suite") if isinstance(spec, dict) else None
    name = (suite.get("name") if isinstance(suite, dict) else None) or (spec.get("name") if isinstance(spec, dict) else None)
    return build_report(
        sections, spec=spec, out_dir=Path(out_dir) if out_dir else run / "report",
        title=title or f"imagen-audit report: {name or run.name}", export_png=export_png,
    )
