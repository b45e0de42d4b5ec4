"""Train the world labeler; write its weights and labeler card.

The labeler is trained on *balanced* renders (every attribute drawn uniformly and
independently), so it cannot learn the world's injected correlations (e.g. guess
skin tone from profession) and its errors do not mimic the biases it measures.
Augmentations cover what diffusion samples look like: washed-out or
over-saturated colour, colour casts, blur, low-resolution upsampling, noise,
JPEG.

Hard cases are oversampled: the training pool is split into cells (profession x
presentation x age group x Monk tone, 2,160 cells), a running mean of each
cell's training loss is kept, and a share of every batch (``hard_share``) is
drawn cell-first with probability proportional to that loss. Cells the network
reads badly (a cap hiding a man's grey hair, the three lightest Monk tones) are
seen more often, without a hand-written list of them.

Examples
--------
>>> train_world_labeler(out="/tmp/wl", n_train=512, n_eval=256, steps=5, width=8, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audit.checkpoint import load_checkpoint, save_checkpoint
from audit.labelers.world import HEADS, build_model
from audit.labelers.world_eval import card_markdown, evaluate, targets
from audit.labelers.world_pool import augment, cell_ids, render_pool, to_tensor
from audit.outdir import locked_output
from audit.files import atomic_write_bytes

__all__ = ["train_world_labeler"]


def train_world_labeler(
    *, out: str | Path, n_train: int = 300000, n_eval: int = 20000, minutes: float = 20.0, width: int = 48,
    batch_size: int = 512, lr: float = 2e-3, seed: int = 0, checkpoint_minutes: float = 3.0, progress: bool = True,
    steps: int | None = None, device: str = "cpu", hard_share: float = 0.5, workers: int | None = None,
    init: str | Path | None = None, jpeg_share: float = 0.2, jpeg_quality: tuple[int, int] = (20, 90),
    light_share: float | None = None,
) -> dict:
    """Train the world labeler for a step (or time) budget, resumably; write weights and card to ``out``.

    Parameters
    ----------
    out
        Folder for ``model.safetensors``, ``config.json``, ``card.json``, ``card.md``
        (and ``checkpoint.safetensors`` while training, safetensors + JSON, no pickle; a rerun resumes from it).
    n_train, n_eval
        Training pool and held-out sizes (renders from seeds ``seed`` and ``seed + 1``).
    minutes
        Training time budget (cosine learning-rate schedule over it), when ``steps`` is None.
    steps
        Train exactly this many steps (cosine schedule over steps): the result then
        does not depend on the machine's speed.
    width
        Base channel width of the CNN.
    device
        Torch device (``cpu``, ``cuda``); the pool, augmentations and sampling live there.
    hard_share
        Share of each batch drawn cell-first by running cell loss (0: uniform batches).
    workers
        Processes that render the pools (default: up to 16 CPUs); the pools do not depend on it.
    init
        Fine-tune: start from the weights in this folder (``model.safetensors`` +
        ``config.json`` of the same ``width``) instead of a random network; the
        optimizer, schedule and hard-case statistics start fresh.
    jpeg_share, jpeg_quality
        Share of the training pool JPEG-recompressed, and the quality range (inclusive).
    light_share
        Share of the training pool drawn from Monk tones 1-3 (None: uniform tones).
        The held-out renders of the card are always balanced (uniform tones, 20% JPEG q20-90).

    ``out`` is locked while training writes it: a second run on it is refused.

    Returns
    -------
    dict
        The labeler card.
    """
    with locked_output(Path(out), command="another labeler training run"):
        return _train(out=Path(out), n_train=n_train, n_eval=n_eval, minutes=minutes, width=width,
                      batch_size=batch_size, lr=lr, seed=seed, checkpoint_minutes=checkpoint_minutes,
                      progress=progress, steps=steps, device=device, hard_share=hard_share,
                      workers=workers if workers is not None else min(16, os.cpu_count() or 1),
                      init=None if init is None else Path(init), jpeg_share=jpeg_share,
                      jpeg_quality=(int(jpeg_quality[0]), int(jpeg_quality[1])), light_share=light_share)


def _soft_tone_targets():
    """Soft ordinal targets for skin tone: mass on neighbours keeps errors within +-1."""
    import torch

    eye = torch.eye(10)
    soft = 0.8 * eye + 0.1 * (torch.roll(eye, 1, 1) + torch.roll(eye, -1, 1))
    soft[0, 9] = soft[9, 0] = 0
    return soft / soft.sum(1, keepdim=True)


def _init_weights(folder: Path, *, width: int) -> dict:
    """Weights to fine-tune from, checked against ``width`` (a clear error, not a shape mismatch)."""
    from safetensors.torch import load_file

    from audit.errors import UserError

    weights, config = folder / "model.safetensors", folder / "config.json"
    for f in (weights, config):
        if not f.exists():
            raise UserError(f"{f}: --init needs a world labeler folder with model.safetensors and config.json "
                            f"(fix: pass the folder of trained weights, e.g. data/weights/world-labeler)")
    w = int(json.loads(config.read_text()).get("width", -1))
    if w != width:
        raise UserError(f"{config}: width {w} does not match --width {width} (fix: pass --width {w})")
    return load_file(str(weights))


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pool_options(*, init: Path | None, jpeg_share: float, jpeg_quality: tuple[int, int],
                  light_share: float | None) -> str:
    """The non-default pool and init options, as CLI flags (for the card's command)."""
    opts = f" --init {init}" if init is not None else ""
    if jpeg_share != 0.2:
        opts += f" --jpeg-share {jpeg_share}"
    if tuple(jpeg_quality) != (20, 90):
        opts += f" --jpeg-quality {jpeg_quality[0]} {jpeg_quality[1]}"
    if light_share is not None:
        opts += f" --light-share {light_share}"
    return opts


def _train(*, out: Path, n_train: int, n_eval: int, minutes: float, width: int, batch_size: int, lr: float,
           seed: int, checkpoint_minutes: float, progress: bool, steps: int | None, device: str,
           hard_share: float, workers: int, init: Path | None = None, jpeg_share: float = 0.2,
           jpeg_quality: tuple[int, int] = (20, 90), light_share: float | None = None) -> dict:
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    init_weights = _init_weights(init, width=width) if init is not None else None
    dev = torch.device(device)
    torch.manual_seed(seed)
    t_render = time.time()
    images, attrs = render_pool(n_train, seed=seed, jpeg_share=jpeg_share, jpeg_quality=jpeg_quality,
                                light_share=light_share, progress=progress, workers=workers)
    print(f"rendered {n_train} training images in {time.time() - t_render:.0f} s ({workers} workers)", flush=True)
    pool = torch.from_numpy(images).to(dev)
    y = {k: torch.from_numpy(v).to(dev) for k, v in targets(attrs).items()}
    cells = torch.from_numpy(cell_ids(attrs)).to(dev)
    n_cells = 24 * 3 * 3 * 10
    order = torch.argsort(cells)
    counts = torch.bincount(cells, minlength=n_cells)
    starts = torch.cumsum(counts, 0) - counts
    model = build_model(width=width)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    model = model.to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    state = {"step": 0, "elapsed": 0.0}
    gen = torch.Generator(device=dev).manual_seed(seed)
    cell_loss = torch.where(counts > 0, 1.0, 0.0).to(dev)  # running loss per cell (sampling weight)
    acc = torch.zeros(2, n_cells, device=dev)                 # loss sum and count since the last update
    ckpt = out / "checkpoint.safetensors"
    if ckpt.exists():
        saved = load_checkpoint(ckpt)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        gen.set_state(saved["gen"])
        if "cell_loss" in saved:
            cell_loss.copy_(saved["cell_loss"].to(dev))
            acc.copy_(saved["cell_acc"].to(dev))
        print(f"resumed from {ckpt} at step {state['step']} ({state['elapsed'] / 60:.1f} min)", flush=True)
    budget = minutes * 60
    soft = _soft_tone_targets().to(dev)
    soft_entropy = -(soft * soft.clamp_min(1e-12).log()).sum(1)
    amp = dev.type == "cuda"
    if amp:
        torch.backends.cudnn.benchmark = True

    def progress_fraction() -> float:
        return state["step"] / steps if steps else state["elapsed"] / budget

    def save() -> None:
        save_checkpoint(ckpt, {"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                               "gen": gen.get_state(), "cell_loss": cell_loss.cpu(), "cell_acc": acc.cpu()})

    n_hard = int(round(batch_size * hard_share))
    model.train()
    last_ckpt = time.time()
    bar = tqdm(total=100, unit="%", desc="train labeler", disable=not progress)
    while progress_fraction() < 1:
        t0 = time.time()
        idx = torch.randint(0, n_train, (batch_size - n_hard,), generator=gen, device=dev)
        if n_hard:
            c = torch.multinomial(cell_loss, n_hard, replacement=True, generator=gen)
            within = torch.minimum((torch.rand(n_hard, generator=gen, device=dev) * counts[c]).long(), counts[c] - 1)
            idx = torch.cat([idx, order[starts[c] + within]])
        x = augment(to_tensor(pool[idx]), generator=gen).contiguous(memory_format=torch.channels_last)
        frac = progress_fraction()
        warm = min(1.0, (frac + 1e-9) / 0.03)
        for group in opt.param_groups:
            group["lr"] = lr * warm * 0.5 * (1 + np.cos(np.pi * min(1.0, frac)))
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        logits = {k: v.float() for k, v in logits.items()}
        per = sum(F.cross_entropy(v, y[k][idx], reduction="none") for k, v in logits.items() if k != "skin_tone")
        t_soft = soft[y["skin_tone"][idx]]
        per = per + 2.0 * (-(t_soft * F.log_softmax(logits["skin_tone"], 1)).sum(1) - soft_entropy[y["skin_tone"][idx]])
        loss = per.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc[0].index_add_(0, cells[idx], per.detach())
        acc[1].index_add_(0, cells[idx], torch.ones_like(per))
        state["step"] += 1
        if state["step"] % 25 == 0:  # running cell loss: half old, half the mean since the last update
            seen = acc[1] > 0
            cell_loss = torch.where(seen, 0.5 * cell_loss + 0.5 * acc[0] / acc[1].clamp_min(1), cell_loss)
            cell_loss = torch.where(counts > 0, cell_loss.clamp_min(1e-3), 0.0)
            acc.zero_()
        state["elapsed"] += time.time() - t0
        bar.update(int(100 * progress_fraction()) - bar.n)
        if state["step"] % 500 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", step=state["step"])
            if not progress:
                print(f"step {state['step']}: loss {loss.item():.3f}, {state['elapsed'] / state['step'] * 1000:.1f} ms/step",
                      flush=True)
        if time.time() - last_ckpt > checkpoint_minutes * 60:
            save()
            last_ckpt = time.time()
    bar.close()
    if not ckpt.exists() or load_checkpoint(ckpt)["state"]["step"] != state["step"]:
        save()  # a kill during evaluation resumes here, not at the last timed checkpoint
    del pool
    eval_images, eval_attrs = render_pool(n_eval, seed=seed + 1, progress=progress, workers=workers)
    model.eval()
    card = {
        "clean": evaluate(model, eval_images, eval_attrs, device=device),
        "augmented": evaluate(model, eval_images, eval_attrs, augmented=True, seed=seed + 2, device=device),
        "training": {"n_train": n_train, "n_eval": n_eval, "steps": state["step"], "width": width,
                     "batch_size": batch_size, "lr": lr, "seed": seed, "hard_share": hard_share,
                     "minutes": round(state["elapsed"] / 60, 1), "device": dev.type,
                     "data": "balanced world renders, hard cells oversampled",
                     "command": f"imagen-audit train labeler --out {out} --n-train {n_train} --n-eval {n_eval} "
                     + (f"--steps {steps}" if steps else f"--minutes {minutes}")
                     + f" --width {width} --batch-size {batch_size} --lr {lr} --hard-share {hard_share}"
                     + _pool_options(init=init, jpeg_share=jpeg_share, jpeg_quality=jpeg_quality,
                                     light_share=light_share)
                     + f" --seed {seed} --device {dev.type}"},
    }
    if init is not None:
        card["training"].update(init=str(init), init_sha256=_sha256(init / "model.safetensors"))
    if (jpeg_share, jpeg_quality, light_share) != (0.2, (20, 90), None):
        card["training"].update(jpeg_share=jpeg_share, jpeg_quality=list(jpeg_quality), light_share=light_share)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = out / "model.safetensors.tmp"
    save_file(weights, str(tmp))
    tmp.replace(out / "model.safetensors")
    atomic_write_bytes(out / "config.json", json.dumps({"width": width, "heads": {k: list(v) for k, v in HEADS.items()}}, indent=2).encode())
    atomic_write_bytes(out / "card.json", json.dumps(card, indent=1).encode())
    atomic_write_bytes(out / "card.md", card_markdown(card).encode())
    if ckpt.exists():
        ckpt.unlink()
    return card
