"""``imagen-audit label``: label the images of a folder, webdataset shards or a probe run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EPILOG = """examples:
  imagen-audit label runs/probe1 --labeler ita --out runs/probe1/labels_ita.parquet
  imagen-audit label data/shards --labeler world --out labels.parquet --batch-size 256
  imagen-audit label photos/ --labeler clip --clip-model ~/models/clip-vit-base-patch32 --out clip.parquet
  imagen-audit label photos/ --labeler deepface --deepface-home ~/deepface-weights --out df.parquet

SOURCE is a probe run directory (manifest.parquet), a .tar shard or a folder of
shards, an image folder (searched recursively) or one image. Unreadable images
(zero bytes, corrupt, truncated, decompression bombs) get rows with value
'unreadable' and a reason; counts go to <out>.skipped.json and are printed.
"""

LABELERS = ("world", "ita", "clip", "deepface")


def register(sub) -> None:
    """Add the ``label`` subcommand."""
    p = sub.add_parser("label", help="label images with a labeler (world, ita, clip, deepface)",
                       description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="image folder, .tar shard(s) folder, or probe run directory")
    p.add_argument("--labeler", required=True, choices=LABELERS)
    p.add_argument("--out", type=Path, required=True, help="labels parquet to write")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu", help="torch device for model labelers (cpu, cuda, ...)")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (decompression bombs)")
    g = p.add_argument_group("world")
    g.add_argument("--world-weights", type=Path, help="world labeler folder (default: the shipped weights)")
    g = p.add_argument_group("ita")
    g.add_argument("--no-faces", action="store_true", help="measure the whole image, skip face detection")
    g.add_argument("--mst-match", choices=("lab", "l_ita"), default="l_ita",
                   help="match Monk tones on (L*, ITA) (default, agrees best with world renders) or CIELAB")
    g = p.add_argument_group("clip")
    g.add_argument("--clip-model", help="local CLIP folder or hub id (hub ids need --allow-download)")
    g.add_argument("--prompts", type=Path, help="YAML prompt sets: attribute: {value: prompt | [prompts]}")
    g.add_argument("--allow-download", action="store_true", help="let clip/deepface download weights")
    g = p.add_argument_group("deepface")
    g.add_argument("--deepface-home", type=Path, help="folder holding .deepface/weights (default $DEEPFACE_HOME)")
    g.add_argument("--deepface-detector", choices=("opencv", "skip"), default="opencv")
    g.add_argument("--deepface-backend", choices=("pytorch", "onnx", "tensorflow"), default="pytorch")
    g.add_argument("--deepface-actions", default="gender,race,age", help="comma-separated subset of gender,race,age")
    p.set_defaults(handler=run)


# -- labeler builders: a plain explicit dict, no string lookup of classes ------------

def _world(args):
    try:
        from audit.labelers.world import WorldLabeler
    except ImportError as exc:
        from audit.errors import UserError

        raise UserError(f"the world labeler is not available ({exc}) (fix: install the full package)") from exc
    return WorldLabeler.from_pretrained(args.world_weights, device=args.device)


def _ita(args):
    from audit.labelers.ita import ITALabeler

    return ITALabeler(faces=not args.no_faces, match=args.mst_match)


def _clip(args):
    from audit.errors import UserError
    from audit.labelers.clip import CLIPLabeler, load_prompt_sets

    if not args.clip_model:
        raise UserError("--labeler clip needs --clip-model (fix: pass a local CLIP folder or a hub id)")
    prompts = load_prompt_sets(args.prompts) if args.prompts else None
    return CLIPLabeler(args.clip_model, prompts=prompts, device=args.device, allow_download=args.allow_download)


def _deepface(args):
    from audit.labelers.deepface import DeepFaceLabeler

    actions = tuple(a.strip() for a in args.deepface_actions.split(",") if a.strip())
    return DeepFaceLabeler(weights_home=args.deepface_home, actions=actions, detector_backend=args.deepface_detector,
                           backend=args.deepface_backend, allow_download=args.allow_download)


BUILDERS = {"world": _world, "ita": _ita, "clip": _clip, "deepface": _deepface}


def run(args) -> int:
    """Label every image of SOURCE and write the labels table atomically."""
    import pandas as pd
    from tqdm import tqdm

    from audit.errors import UserError
    from audit.labelers.base import labels_frame, unreadable_rows
    from audit.labelers.images import DEFAULT_MAX_PIXELS, SkipSummary, batched, decode_image, iter_source

    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size} must be >= 1 (fix: pass --batch-size 1 or more)")
    if args.out.suffix != ".parquet":
        raise UserError(f"--out {args.out}: must end in .parquet (fix: e.g. --out labels.parquet)")
    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    summary = SkipSummary()
    n_total, items = iter_source(args.source, summary=summary)
    labeler = BUILDERS[args.labeler](args)

    frames: list[pd.DataFrame] = []
    n_images = n_labelled = 0
    with tqdm(total=n_total, unit="img", desc=f"label {args.labeler}", file=sys.stderr) as bar:
        for batch in batched(items, args.batch_size):
            images, ids, bad = [], [], []
            for item in batch:
                img, reason = (None, item.reason) if item.data is None else decode_image(item.data, max_pixels=max_pixels)
                if reason is not None:
                    summary.skip(reason, item.origin)
                    bad += unreadable_rows(item.image_id, labeler=labeler.name, attributes=labeler.attributes,
                                           reason=reason)
                else:
                    images.append(img)
                    ids.append(item.image_id)
            if images:
                frames.append(labeler.label(images, image_ids=ids))
            if bad:
                frames.append(labels_frame(bad))
            n_images += len(batch)
            n_labelled += len(images)
            bar.update(len(batch))

    df = pd.concat(frames, ignore_index=True) if frames else labels_frame([])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    df.to_parquet(tmp, index=False)
    report = {"source": str(args.source), "labeler": args.labeler, "images": n_images, "labelled": n_labelled,
              **summary.to_dict()}
    side = args.out.with_name(args.out.stem + ".skipped.json")
    side_tmp = side.with_name(side.name + ".tmp")
    side_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(side_tmp, side)
    os.replace(tmp, args.out)  # the parquet last: its presence means the run finished

    print(f"labelled {n_labelled} of {n_images} images with {args.labeler}: {len(df)} rows -> {args.out}")
    if len(df):  # non-answers (no_face, no_skin, out_of_domain, unreadable) stand beside every answer
        from audit.labelers.ita import non_answer_shares

        na = non_answer_shares(df)["non_answer"]
        print("non-answer share: " + ", ".join(f"{a} {v:.1%}" for (_, a), v in na.items()))
    if summary.total:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
        print(f"skipped {summary.total}: {reasons} (details: {side})")
    return 0
