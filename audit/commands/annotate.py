"""``imagen-audit annotate RUN_DIR`` and ``imagen-audit validate RUN_DIR``: human validation of labelers."""

from __future__ import annotations

import argparse
from pathlib import Path

ANNOTATE_EPILOG = """examples:
  imagen-audit annotate runs/demo --labeler world --attribute presentation --n 100 --annotator alice
  (open the printed http://127.0.0.1:PORT/ link; keys 1-9 answer, 0 can't tell, u undo; Ctrl-C stops,
   the same command resumes)
"""
VALIDATE_EPILOG = """examples:
  imagen-audit validate runs/demo
  (writes runs/demo/validation/accuracy.csv and confusion.json)
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``annotate`` and ``validate`` subcommands."""
    p = sub.add_parser("annotate", help="label a stratified sample of a run's images in the browser",
                       epilog=ANNOTATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, help="a finished run (manifest.parquet, labels.parquet, images/)")
    p.add_argument("--labeler", default="world", help="labeler whose answers are checked (default: world)")
    p.add_argument("--attribute", default="presentation", help="attribute to annotate (default: presentation)")
    p.add_argument("--concept", default=None, help="manifest column to stratify by (default: the first slot)")
    p.add_argument("--n", type=int, default=100, help="images in the sample (default: 100)")
    p.add_argument("--annotator", default="annotator1", help="your name; one file per annotator")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=run_annotate)
    v = sub.add_parser("validate", help="labeler accuracy per group and confusion matrix from annotations",
                       epilog=VALIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("run_dir", type=Path)
    v.set_defaults(handler=run_validate)


def _default_concept(manifest) -> str | None:
    base = {"image_id", "path", "prompt", "prompt_id", "template_id", "seed", "sample", "setting"}
    rest = [c for c in manifest.columns if c not in base]
    return rest[0] if rest else None


def run_annotate(args: argparse.Namespace) -> int:
    from audit.annotate.server import make_server
    from audit.annotate.store import AnnotationFile, choices_for, load_run_tables, stratified_sample
    from audit.errors import UserError

    if args.n < 1:
        raise UserError(f"--n {args.n} must be >= 1")
    manifest, labels = load_run_tables(args.run_dir)
    concept = args.concept or _default_concept(manifest)
    path = args.run_dir / "annotations" / f"{args.annotator}.json"
    create = {"annotator": args.annotator, "labeler": args.labeler, "attribute": args.attribute, "concept": concept,
              "seed": args.seed}
    if not path.exists():
        create["choices"] = choices_for(labels, labeler=args.labeler, attribute=args.attribute)
        create["items"] = stratified_sample(manifest, labels, labeler=args.labeler, attribute=args.attribute,
                                            concept=concept, n=args.n, seed=args.seed)
    store = AnnotationFile.open_or_create(path, create=create)
    server = make_server(store, root=args.run_dir, port=args.port)
    st = store.state()
    print(f"annotate {st['total']} images ({st['done']} done) of {args.labeler}/{args.attribute}: "
          f"http://127.0.0.1:{server.server_address[1]}/  (answers -> {path}; Ctrl-C stops)", flush=True)
    import signal

    # Ctrl-C stops the server, also when it was started from a background job of a script, which
    # inherits SIGINT ignored (POSIX shells without job control) and would serve on forever
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    st = store.state()
    print(f"saved {st['done']} of {st['total']} answers to {path}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from audit.annotate.validate import validate_run

    res = validate_run(args.run_dir)
    acc = res["accuracy"]
    for (labeler, attr), g in acc.groupby(["labeler", "attribute"]):
        a = res["agreement"][labeler][attr]
        print(f"{labeler}/{attr}: Krippendorff's alpha {a['krippendorff_alpha']:.3f} "
              f"({a['annotators']} annotators, {a['units_with_2plus']} images with 2+ answers)")
        for r in g.itertuples():
            print(f"  {r.skin_group:>7} x {r.presentation:<12} accuracy {r.accuracy:.3f} "
                  f"[{r.lo:.3f}, {r.hi:.3f}] n={r.n}")
    print("wrote " + ", ".join(str(p) for p in res["paths"]))
    return 0
