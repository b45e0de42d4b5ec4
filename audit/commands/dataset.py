"""``imagen-audit dataset``: audit LAION-style image-text datasets."""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  imagen-audit dataset audit laion_part_00000.parquet --out runs/laion-audit
  imagen-audit dataset audit runs/world --out runs/world-audit --labeler world
  imagen-audit dataset audit parts/ --out out/ --lexicon my_terms.yaml --workers 2
  imagen-audit dataset audit parts/ --out out/ --dask-scheduler tcp://10.0.0.5:8786
  imagen-audit dataset audit part.parquet --out out/ --caption-classifier models/toxic-text

PATH may be a LAION metadata parquet (or a folder of them), img2dataset output
(webdataset NNNNN.tar + NNNNN.parquet, or the `files` layout), or a folder of
images with captions (KEY.jpg + KEY.txt). Lexicons are YAML files (see
data/lexicons/README.md); --lexicon adds to the starter lexicons unless
--no-default-lexicons is given.
"""

def register(sub) -> None:
    """Add ``dataset`` and ``dataset audit`` to the CLI."""
    from audit.cli import add_labeler_options, add_progress_option
    from audit.registry import LABELERS

    p = sub.add_parser("dataset", help="audit LAION-style image-text datasets", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    a = dsub.add_parser("audit", help="text (and image) audit of a dataset", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("path", help="parquet file, tar shard, or dataset folder")
    a.add_argument("--out", required=True, help="output folder")
    a.add_argument("--lexicon", action="append", default=[], metavar="FILE",
                   help="extra lexicon YAML file (repeatable)")
    a.add_argument("--no-default-lexicons", action="store_true", help="use only the --lexicon files")
    a.add_argument("--slur-lexicon", action="store_true",
                   help="also count the opt-in slur lexicon (shown as slur#N: counts and rates only)")
    a.add_argument("--labeler", help=f"label the dataset's images with this labeler ({', '.join(LABELERS)} "
                                      "or an installed plugin)")
    a.add_argument("--labeler-path", help=argparse.SUPPRESS)  # old spelling of --world-weights
    a.add_argument("--max-images", type=int, help="label at most this many images")
    a.add_argument("--confusion", metavar="FILE",
                   help="JSON confusion counts per attribute ({ATTR: {classes, matrix}}, rows true) measured on "
                        "images like the audited ones; used for the labeler-error correction instead of the "
                        "labeler's card")
    a.add_argument("--workers", type=int, default=1, help="local worker processes (default 1); --dask-scheduler uses a running Dask cluster")
    a.add_argument("--dask-scheduler", dest="dask_scheduler", metavar="ADDRESS",
                   help="run on an existing Dask scheduler (tcp://host:8786)")
    a.add_argument("--batch-size", type=int, default=131_072, help="caption rows per batch (default 131072)")
    a.add_argument("--sense-model", nargs="?", const=True, default=False, metavar="FILE",
                   help="decide identity hits with the learned sense model after the rules (the shipped "
                        "data/lexicons/sense_model.json, or FILE): higher precision, lower recall, about 10x the "
                        "rules' cost per caption it reads (docs/dataset-audit.md, Tagging quality)")
    a.add_argument("--caption-classifier", metavar="FOLDER",
                   help="local transformers text classifier (toxicity / NSFW text) run on samples of the "
                        "lexicon-flagged and unflagged captions, reported beside the lexicon with agreement")
    a.add_argument("--classifier-sample", type=int, default=1000,
                   help="unflagged captions the classifier reads (default 1000; flagged: up to twice that)")
    a.add_argument("--classifier-threshold", type=float, default=0.5,
                   help="P(positive) at which the classifier flags a caption (default 0.5)")
    add_labeler_options(a)
    add_progress_option(a)
    a.set_defaults(handler=_audit)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def _audit(args: argparse.Namespace) -> int:
    from audit.cli import make_labelers
    from audit.dataset.pipeline import run_dataset_audit
    from audit.errors import UserError

    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be 1 or more (fix: pass --workers 1)")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be 1 or more (fix: pass --batch-size 131072)")
    if args.classifier_sample < 1:
        raise UserError(f"--classifier-sample {args.classifier_sample}: must be 1 or more (fix: pass 1000)")
    if not 0.0 < args.classifier_threshold < 1.0:
        raise UserError(f"--classifier-threshold {args.classifier_threshold}: must be between 0 and 1 "
                        "(fix: pass 0.5)")
    if args.labeler_path:
        args.world_weights = args.world_weights or args.labeler_path
    labeler = make_labelers(args, [args.labeler])[0][0] if args.labeler else None
    if args.confusion:
        from audit.dataset.confusion import WithConfusion, load_confusion_file

        if labeler is None:
            raise UserError("--confusion corrects image labels (fix: pass --labeler too)")
        labeler = WithConfusion(labeler, load_confusion_file(args.confusion), source=args.confusion)
    res = run_dataset_audit(args.path, out_dir=args.out, lexicons=args.lexicon,
                            include_default_lexicons=not args.no_default_lexicons, workers=args.workers,
                            scheduler=args.dask_scheduler, labeler=labeler, max_images=args.max_images,
                            batch_size=args.batch_size, progress=not args.no_progress, argv=sys.argv,
                            include_slurs=args.slur_lexicon, caption_classifier=args.caption_classifier,
                            sense_model=args.sense_model,
                            classifier_sample=args.classifier_sample, classifier_threshold=args.classifier_threshold)
    cap, ex = res["captions"], res["execution"]
    print(f"{cap['rows']:,} captions ({ex['rows_per_second'] or 0:,.0f} rows/s); "
          f"{cap['duplicate_rows']:,} duplicates, {cap['null']:,} null, {cap['empty']:,} empty")
    rec = res["reconciliation"]
    skipped = ", ".join(f"{k}: {v:,}" for k, v in rec["skipped"].items())
    print(f"rows read {rec['read']:,} = counted {rec['counted']:,} + skipped {sum(rec['skipped'].values()):,}"
          + (f" ({skipped})" if skipped else ""))
    clf = res.get("caption_classifier")
    if clf:
        a = clf["agreement"]
        print(f"caption classifier: model rate {100 * clf['model_rate']:.2f}% [{100 * clf['model_lo']:.2f}%, "
              f"{100 * clf['model_hi']:.2f}%] vs lexicon rate {100 * clf['lexicon_rate']:.2f}% (unsafe or toxic "
              f"terms); read {clf['read_flagged']:,} flagged + {clf['read_unflagged']:,} unflagged captions; "
              f"agreement {100 * a['observed']:.1f}%, kappa {a['kappa']:.2f}")
    for reason, n in sorted(cap["problems"].items()):
        print(f"skipped/repaired {reason}: {n:,}", file=sys.stderr)
    for note in res["input"]["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(f"results: {args.out} (results.json, dataset_card.md, report.html and tables)")
    return 0
