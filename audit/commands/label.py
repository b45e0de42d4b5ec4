"""``imagen-audit label``: label the images of a folder, webdataset shards or a probe run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  imagen-audit label runs/probe1 --labeler ita --out runs/probe1/labels_ita.parquet
  imagen-audit label data/shards --labeler world --out labels.parquet --batch-size 256
  imagen-audit label photos/ --labeler clip --clip-model ~/models/clip-vit-base-patch32 --out clip.parquet
  imagen-audit label out/ --labeler world --out out/labels.parquet     # a `generate` folder
  imagen-audit label photos/ --labeler deepface --deepface-home ~/deepface-weights --out df.parquet

SOURCE is a probe run or generate folder (manifest.parquet), a .tar shard or a folder of
shards, an image folder (searched recursively) or one image. Unreadable images
(zero bytes, corrupt, truncated, decompression bombs) get rows with value
'unreadable' and a reason; counts go to <out>.skipped.json and are printed.
"""


def register(sub) -> None:
    """Add the ``label`` subcommand."""
    from audit.cli import add_labeler_options, add_progress_option
    from audit.registry import LABELERS

    p = sub.add_parser("label", help="label images with a labeler (world, ita, clip, deepface)",
                       description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="image folder, .tar shard(s) folder, probe run or generate folder")
    p.add_argument("--labeler", required=True, help=f"labeler name: {', '.join(LABELERS)} or an installed plugin")
    p.add_argument("--out", type=Path, required=True, help="labels parquet to write")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (decompression bombs)")
    add_labeler_options(p)
    add_progress_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    """Label every image of SOURCE and write the labels table atomically."""
    import json

    from tqdm import tqdm

    from audit.cli import make_labelers
    from audit.errors import UserError
    from audit.files import atomic_write_bytes, write_parquet_atomic
    from audit.labelers.images import DEFAULT_MAX_PIXELS, SkipSummary, iter_source, label_items

    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size} must be >= 1 (fix: pass --batch-size 1 or more)")
    if args.out.suffix != ".parquet":
        raise UserError(f"--out {args.out}: must end in .parquet (fix: e.g. --out labels.parquet)")
    summary = SkipSummary()
    n_total, items = iter_source(args.source, summary=summary)
    [(labeler, options)] = make_labelers(args, [args.labeler])
    with tqdm(total=n_total, unit="img", desc=f"label {args.labeler}", file=sys.stderr,
              disable=args.no_progress) as bar:
        df, counts = label_items(items, [labeler], summary=summary, batch_size=args.batch_size,
                                 max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
                                 on_batch=lambda read, _: bar.update(len(read)))
    report = {"source": str(args.source), "labeler": args.labeler, "options": options, "images": counts.read,
              "labelled": counts.labelled, **summary.to_dict()}
    side = args.out.with_name(args.out.stem + ".skipped.json")
    atomic_write_bytes(side, (json.dumps(report, indent=2, default=str) + "\n").encode())
    write_parquet_atomic(args.out, df)  # the parquet last: its presence means the run finished

    print(f"labelled {counts.labelled} of {counts.read} images with {args.labeler}: {len(df)} rows -> {args.out}")
    if len(df):  # non-answers (no_face, no_skin, out_of_domain, unreadable) stand beside every answer
        from audit.labelers.ita import non_answer_shares

        na = non_answer_shares(df)["non_answer"]
        print("non-answer share: " + ", ".join(f"{a} {v:.1%}" for (_, a), v in na.items()))
    if summary.total:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
        print(f"skipped {summary.total}: {reasons} (details: {side})")
    return 0
