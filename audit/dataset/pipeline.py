"""The dataset audit end to end: detect, count captions, (label images), write outputs atomically.

Outputs in ``out_dir``:

- ``term_frequencies.parquet``, ``cooccurrence.parquet``, ``per_query_rates.parquet``
  (see :mod:`audit.dataset.results`); ``caption_examples.parquet``: example captions per tag
  and per identity x concept pair (see :mod:`audit.dataset.examples`);
- ``image_labels.parquet``, ``image_by_concept.parquet``, ``caption_image_agreement.parquet``
  when images were labelled;
- ``results.parquet``: every number above as one tidy table with the columns of a probe
  run's (:mod:`audit.dataset.table`);
- ``dataset_card.md``; ``report.html`` (shared report builder; its tables and
  summary in ``report/``);
- ``results.json`` (summary, arguments, versions, and ``reconciliation``: rows read =
  counted + skipped by reason), written last: a folder with ``results.json`` is
  complete. Every file is written to a temporary name and renamed.

The input is detected before ``out_dir`` is made (a missing input leaves no
folder behind); ``out_dir`` may not be the dataset or lie inside it, and is
locked while the audit writes it (a second audit on it is refused).

Examples
--------
>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pq.write_table(pa.table({"TEXT": ["a nurse", "a woman"]}), d / "x.parquet")
>>> res = run_dataset_audit(d / "x.parquet", out_dir=d / "out", progress=False)
>>> res["captions"]["rows"], (d / "out" / "results.json").exists()
(2, True)
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from audit import __version__
from audit.dataset.card import dataset_card
from audit.dataset.lexicon import load_lexicons
from audit.dataset.results import caption_summary, cooccurrence, per_query_rates, term_frequencies
from audit.dataset.run import audit_text
from audit.dataset.sources import DatasetInput, detect
from audit.dataset.textstats import TextAuditor
from audit.errors import UserError
from audit.outdir import locked_output, refuse_inside
from audit.files import atomic_write_bytes, json_safe, write_parquet_atomic
from audit.provenance import git_revision, package_versions
from audit.shards import LAION_COLUMNS

__all__ = ["run_dataset_audit", "input_summary"]


def input_summary(ds: DatasetInput) -> dict:
    """Layout, files, columns found and missing (per canonical column), notes.

    Examples
    --------
    >>> from audit.dataset.sources import DatasetInput
    >>> input_summary(DatasetInput("laion_parquet", "x", [], {"a.parquet": {"mapping": {"TEXT": "text"},
    ...     "missing": ["nsfw"]}}))["missing_columns"]
    {'nsfw': 1}
    """
    found: set[str] = set()
    missing: dict[str, int] = {}
    for info in ds.columns.values():
        found.update(info["mapping"].values())
        for m in info["missing"]:
            missing[m] = missing.get(m, 0) + 1
    notes = list(ds.notes)
    if ds.columns and "nsfw" not in found and "punsafe" not in found:
        notes.append("no NSFW or punsafe column: NSFW-tag rates are not available (NaN)")
    files = len(ds.columns) or len({t.path for t in ds.tasks})
    return {"root": ds.root, "kind": ds.kind, "files": files,
            "columns_found": sorted(found, key=list(LAION_COLUMNS).index) if ds.columns else ["text"],
            "missing_columns": dict(sorted(missing.items())), "notes": notes,
            "image_shards": len(ds.image_shards), "image_files": len(ds.image_files)}


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def run_dataset_audit(path: str | Path, *, out_dir: str | Path, lexicons: Sequence[str | Path] = (),
                      include_default_lexicons: bool = True, workers: int = 1, scheduler: str | None = None,
                      labeler=None, max_images: int | None = None, batch_size: int = 131_072,
                      progress: bool = True, argv: Sequence[str] | None = None, include_slurs: bool = False,
                      caption_classifier: str | Path | None = None, classifier_sample: int = 1000,
                      classifier_threshold: float = 0.5, sense_model: bool | str | Path = False) -> dict:
    """Audit a LAION-style dataset and write every output to ``out_dir``.

    Parameters
    ----------
    path
        Parquet file, tar, or dataset folder (layout detected).
    out_dir
        Output folder (created).
    lexicons
        Extra lexicon files.
    include_default_lexicons
        Also use the starter lexicons.
    include_slurs
        Also count the opt-in slur lexicon (reported as ``slur#N`` counts and rates only).
    workers, scheduler
        Dask execution (see :func:`~audit.dataset.run.audit_text`).
    labeler
        Optional object following :class:`audit.labelers.Labeler`; labels the
        dataset's images when it has any.
    max_images
        Label at most this many images.
    batch_size
        Caption rows per batch.
    progress
        Show progress bars.
    argv
        Command line to record.
    caption_classifier
        Folder of a local ``transformers`` text classifier (toxicity / NSFW text); it reads bounded
        samples of the lexicon-flagged and unflagged captions and is reported beside the lexicon
        rates with their agreement (:mod:`audit.dataset.classify`). Nothing is downloaded.
    classifier_sample
        Unflagged captions the classifier reads (the flagged sample is twice this size at most).
    classifier_threshold
        P(positive) at or above which the classifier flags a caption.
    sense_model
        Decide identity hits with the learned sense model after the sense rules
        (:mod:`audit.dataset.sense_model`): ``True`` for the shipped one, or the path of a model
        file. Recorded in ``results.json`` (``lexicons.sense_model``).

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder (fix: pass a new --out folder)")
    lex = load_lexicons(lexicons, include_defaults=include_default_lexicons, include_slurs=include_slurs)
    model = None
    if sense_model is not False:  # a bad model file fails before any output folder is made
        from audit.dataset.sense_model import SenseModel

        model = (SenseModel.load(None if sense_model is True else sense_model),
                 "shipped" if sense_model is True else str(sense_model))
    ds = detect(path)  # a missing or unreadable input fails here, before any output folder is made
    classifier = None
    if caption_classifier is not None:  # a bad model folder fails here too
        from audit.dataset.caption_classifier import CaptionClassifier

        classifier = (CaptionClassifier(caption_classifier), str(caption_classifier))
    refuse_inside(out, ds.root, what="the dataset")
    with locked_output(out, command="another dataset audit"):
        return _audit_into(ds, out, lex=lex, t0=t0, workers=workers, scheduler=scheduler, labeler=labeler,
                           max_images=max_images, batch_size=batch_size, progress=progress, argv=argv,
                           classifier=classifier, classifier_sample=classifier_sample,
                           classifier_threshold=classifier_threshold,
                           sense_model=model)


def _audit_into(ds: DatasetInput, out: Path, *, lex, t0: float, workers: int, scheduler: str | None, labeler,
                max_images: int | None, batch_size: int, progress: bool, argv: Sequence[str] | None,
                classifier=None, classifier_sample: int = 1000, classifier_threshold: float = 0.5,
                sense_model=None) -> dict:
    # an earlier run's marker must not vouch for the files this run is about to replace
    (out / "results.json").unlink(missing_ok=True)
    auditor = TextAuditor(lex, sense_model=sense_model[0] if sense_model else None)
    counts = audit_text(ds, auditor, workers=workers, scheduler=scheduler, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - t0
    if counts.scalars.get("non_null_rows", 0) == 0 and counts.problems.get("no_text_column"):
        raise UserError(f"{ds.root}: no caption column in any file (looked for "
                        f"{', '.join(LAION_COLUMNS['text'])}, any case) (fix: rename the caption column to TEXT)")
    classified = None
    if classifier is not None:
        from audit.dataset.classify import classifier_pass

        model, name = classifier
        classified = classifier_pass(ds, lex, model, sample=classifier_sample, max_flagged=2 * classifier_sample,
                                     threshold=classifier_threshold, batch_size=batch_size)
        classified["model"] = name
    tf = term_frequencies(counts, lex)
    co = cooccurrence(counts, lex)
    pq_rates = per_query_rates(counts, lex)
    write_parquet_atomic(out / "term_frequencies.parquet", tf)
    write_parquet_atomic(out / "cooccurrence.parquet", co)
    write_parquet_atomic(out / "per_query_rates.parquet", pq_rates)
    examples = counts.examples.frame(counts.labels)
    write_parquet_atomic(out / "caption_examples.parquet", examples)
    images = None
    if labeler is not None:
        from audit.dataset.images import audit_images

        images = audit_images(ds, lex, labeler=labeler, out_dir=out, max_images=max_images, progress=progress)
    from audit.dataset.table import dataset_results_table

    shares_path = out / "image_by_concept.parquet"
    table = dataset_results_table(cooccurrence=co, per_query=pq_rates,
                                  image_shares=pd.read_parquet(shares_path) if images and shares_path.exists() else None,
                                  labeler=getattr(labeler, "name", ""))
    write_parquet_atomic(out / "results.parquet", table)  # the tidy table, as a probe run's
    cap = caption_summary(counts)
    results = {
        "tool": {"name": "imagen-audit dataset audit", "version": __version__, "git_revision": git_revision()["commit"],
                 "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "argv": list(argv or []),
                 "versions": package_versions()},
        "input": input_summary(ds),
        "execution": {"workers": workers, "scheduler": scheduler, "tasks": len(ds.tasks), "seconds": seconds,
                      "rows_per_second": counts.n_rows / seconds if seconds > 0 else None},
        "lexicons": {"sources": list(lex.sources), "concepts": len(lex.concepts), "surfaces": len(lex.surfaces),
                     "sense_model": sense_model[1] if sense_model else None},
        "captions": cap,
        "reconciliation": counts.reconciliation(),
        "top_terms": _records(tf[tf.level == "concept"].head(25)[["term", "role", "rows", "share"]]),
        "per_query_rates": _records(pq_rates),
        "top_npmi": _records(co[co.n_both >= 5].dropna(subset=["npmi"]).sort_values("npmi", ascending=False)
                             .head(25)[["identity", "concept", "n_both", "npmi"]]),
        "images": images,
        "caption_classifier": classified,
    }
    card = dataset_card(results, term_frequencies=tf, cooccurrence=co, per_query=pq_rates, images=images)
    atomic_write_bytes(out / "dataset_card.md", card.encode("utf-8"))
    try:
        report = _write_report(results, tf=tf, co=co, rates=pq_rates, out=out, examples=examples)
    except Exception as exc:  # noqa: BLE001 - the tables and card are written; keep them and say why
        report = f"not written: {type(exc).__name__}: {exc}"
    results["outputs"] = sorted(p.name for p in out.iterdir()
                                if not p.name.endswith(".tmp") and not p.name.startswith(".")) + ["results.json"]
    results["report"] = report
    atomic_write_bytes(out / "results.json", json.dumps(json_safe(results), indent=2).encode())
    return results


def _write_report(results: dict, *, tf: pd.DataFrame, co: pd.DataFrame, rates: pd.DataFrame, out: Path,
                  examples: pd.DataFrame | None = None) -> str:
    """Write ``report.html`` with the shared report builder (plotly is imported only here)."""
    from audit.dataset.report import write_dataset_report

    return write_dataset_report(results, tf=tf, co=co, rates=rates, out_dir=out, examples=examples)
