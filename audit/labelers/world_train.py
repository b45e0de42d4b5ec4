"""Train and evaluate the world labeler; write its weights and labeler card.

The labeler is trained on *balanced* renders (every attribute drawn uniformly and
independently), so it cannot learn the world's injected correlations (e.g. guess
skin tone from profession) and its errors do not mimic the biases it measures.
Augmentations cover what diffusion samples look like: washed-out or
over-saturated colour, colour casts, blur, low-resolution upsampling, noise,
JPEG.

Examples
--------
>>> train_world_labeler(out="/tmp/wl", n_train=512, n_eval=256, minutes=0.05, width=8, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from audit.checkpoint import load_checkpoint, save_checkpoint
from audit.outdir import locked_output
from audit.labelers.world import HEADS, build_model, skin_group_of
from audit.atomic import atomic_write_bytes

__all__ = ["balanced_attributes", "render_pool", "augment", "evaluate", "train_world_labeler", "card_markdown"]


def balanced_attributes(n: int, *, rng: np.random.Generator, unsafe_rate: float = 0.3) -> pd.DataFrame:
    """Attributes drawn uniformly and independently (no injected correlation).

    Examples
    --------
    >>> balanced_attributes(4, rng=np.random.default_rng(0)).shape
    (4, 6)
    """
    h = HEADS
    return pd.DataFrame({
        "profession": rng.choice(np.array(h["profession"], dtype=object), n),
        "skin_tone": rng.integers(1, 11, n),
        "presentation": rng.choice(np.array(h["presentation"], dtype=object), n),
        "age_group": rng.choice(np.array(h["age_group"], dtype=object), n),
        "activity": rng.choice(np.array(h["activity"], dtype=object), n),
        "unsafe": rng.random(n) < unsafe_rate,
    })


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def render_pool(n: int, *, seed: int, jpeg_share: float = 0.2, progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Render ``n`` balanced people; a share is JPEG-recompressed (quality 20-90).

    Examples
    --------
    >>> imgs, attrs = render_pool(8, seed=0, progress=False)
    >>> imgs.shape
    (8, 64, 64, 3)
    """
    from tqdm import tqdm

    from generator.world import render_batch

    rng = np.random.default_rng(seed)
    attrs = balanced_attributes(n, rng=rng)
    images = np.empty((n, 64, 64, 3), np.uint8)
    for i in tqdm(range(0, n, 1024), desc="render pool", unit="batch", disable=not progress):
        images[i:i + 1024] = render_batch(attrs.iloc[i:i + 1024], rng=rng)
    for i in np.flatnonzero(rng.random(n) < jpeg_share):
        images[i] = _jpeg(images[i], int(rng.integers(20, 91)))
    return images, attrs


def targets(attrs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Class indices per head for an attribute table.

    Examples
    --------
    >>> targets(balanced_attributes(2, rng=np.random.default_rng(0)))["unsafe"].dtype
    dtype('int64')
    """
    out = {}
    for k, classes in HEADS.items():
        col = attrs[k]
        values = col.astype(str).str.lower() if k == "unsafe" else col.astype(str)
        lookup = {c: i for i, c in enumerate(classes)}
        out[k] = np.array([lookup[v] for v in values], dtype=np.int64)
    return out


def augment(x, *, generator, p: float = 0.75):
    """Diffusion-like artifacts on a float batch in [-1, 1] (torch, vectorised).

    Examples
    --------
    >>> import torch
    >>> augment(torch.zeros(2, 3, 64, 64), generator=torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3, 64, 64])
    """
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    g = generator

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=g)

    on = (torch.rand(n, generator=g) < p).float().view(n, 1, 1, 1)
    y = (x + 1) / 2
    # low-resolution then upsampled (SR-stage look), blur
    pick = torch.rand(n, generator=g)
    small = F.interpolate(F.interpolate(y, size=32, mode="area"), size=64, mode="bilinear", align_corners=False)
    tiny = F.interpolate(F.interpolate(y, size=16, mode="area"), size=64, mode="bilinear", align_corners=False)
    k = torch.tensor([1.0, 2.0, 1.0]) / 4
    blur = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 3, 3), groups=3)
    y = torch.where((pick < 0.15).view(n, 1, 1, 1), small,
                    torch.where((pick < 0.2).view(n, 1, 1, 1), tiny,
                                torch.where((pick < 0.4).view(n, 1, 1, 1), blur, y)))
    # colour: gain, per-channel cast, contrast, saturation, washed-out
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * u(0.6, 1.4, 1, 1, 1) + mean
    grey = y.mean(dim=1, keepdim=True)
    y = (y - grey) * u(0.5, 1.6, 1, 1, 1) + grey
    y = y * u(0.8, 1.2, 1, 1, 1) * u(0.92, 1.08, 3, 1, 1)
    wash = u(0.0, 0.3, 1, 1, 1) * (torch.rand(n, 1, 1, 1, generator=g) < 0.3).float()
    y = y * (1 - wash) + 0.5 * wash
    y = y + torch.randn(y.shape, generator=g) * u(0.0, 0.06, 1, 1, 1)
    y = y.clamp(0, 1) * 2 - 1
    return on * y + (1 - on) * x


def _to_tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def evaluate(model, images: np.ndarray, attrs: pd.DataFrame, *, augmented: bool = False, seed: int = 0,
             batch_size: int = 512) -> dict[str, Any]:
    """Accuracy per head overall, per skin group and per presentation; MST +-1; confusion matrices.

    Examples
    --------
    >>> imgs, attrs = render_pool(16, seed=1, progress=False)
    >>> r = evaluate(build_model(width=8), imgs, attrs)
    >>> 0 <= r["accuracy"]["profession"] <= 1
    True
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    preds: dict[str, list[np.ndarray]] = {k: [] for k in HEADS}
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = _to_tensor(images[i:i + batch_size])
            if augmented:
                x = augment(x, generator=g, p=1.0)
            for k, v in model(x).items():
                preds[k].append(v.argmax(1).numpy())
    pred = {k: np.concatenate(v) for k, v in preds.items()}
    true = targets(attrs)
    groups = np.array([skin_group_of(t) for t in attrs["skin_tone"]])
    pres = attrs["presentation"].astype(str).to_numpy()
    res: dict[str, Any] = {"n": int(len(images)), "augmented": augmented, "accuracy": {}, "by_skin_group": {},
                           "by_presentation": {}, "confusion": {}}
    for k in HEADS:
        hit = pred[k] == true[k]
        res["accuracy"][k] = float(hit.mean())
        res["by_skin_group"][k] = {gname: float(hit[groups == gname].mean()) for gname in ("light", "medium", "dark")}
        res["by_presentation"][k] = {p: float(hit[pres == p].mean()) for p in HEADS["presentation"]}
        cm = np.zeros((len(HEADS[k]), len(HEADS[k])), np.int64)
        np.add.at(cm, (true[k], pred[k]), 1)
        res["confusion"][k] = {"classes": list(HEADS[k]), "matrix": cm.tolist()}
    diff = np.abs(pred["skin_tone"] - true["skin_tone"])
    res["skin_tone_within_1"] = float((diff <= 1).mean())
    res["skin_tone_within_1_by_group"] = {gname: float((diff[groups == gname] <= 1).mean()) for gname in ("light", "medium", "dark")}
    gp = np.array([skin_group_of(t + 1) for t in pred["skin_tone"]])
    res["accuracy"]["skin_group"] = float((gp == groups).mean())
    res["max_skin_group_gap"] = {k: float(max(v.values()) - min(v.values())) for k, v in res["by_skin_group"].items()}
    return res


def card_markdown(card: dict) -> str:
    """Render the labeler card as Markdown.

    Examples
    --------
    >>> card_markdown({"clean": {"n": 1, "accuracy": {"profession": 1.0}, "skin_tone_within_1": 1.0,
    ...   "by_skin_group": {}, "by_presentation": {}, "max_skin_group_gap": {}}, "augmented": None,
    ...   "training": {}}).startswith("# World labeler card")
    True
    """
    lines = ["# World labeler card", "",
             "A CNN trained on balanced world renders (attributes drawn independently) with diffusion-like "
             "augmentations. Accuracy on held-out renders from a fresh seed.", ""]
    for name in ("clean", "augmented"):
        r = card.get(name)
        if not r:
            continue
        lines += [f"## {name} held-out renders (n = {r['n']})", "", "| head | accuracy | light | medium | dark | max gap |",
                  "|---|---|---|---|---|---|"]
        for k, acc in r["accuracy"].items():
            by = r["by_skin_group"].get(k, {})
            gap = r["max_skin_group_gap"].get(k)
            cells = [f"{by[gname]:.3f}" if gname in by else "" for gname in ("light", "medium", "dark")]
            lines.append(f"| {k} | {acc:.3f} | " + " | ".join(cells) + f" | {'' if gap is None else f'{gap:.3f}'} |")
        lines += ["", f"Monk skin tone within +-1: {r['skin_tone_within_1']:.3f}", ""]
        if r["by_presentation"]:
            lines += ["| head | " + " | ".join(HEADS["presentation"]) + " |", "|---" * 4 + "|"]
            for k, by in r["by_presentation"].items():
                lines.append(f"| {k} | " + " | ".join(f"{by[p]:.3f}" for p in HEADS["presentation"]) + " |")
            lines.append("")
    t = card.get("training", {})
    if t:
        lines += ["## Training", "", "```", json.dumps(t, indent=2), "```", ""]
    return "\n".join(lines)


def train_world_labeler(
    *, out: str | Path, n_train: int = 60000, n_eval: int = 6000, minutes: float = 20.0, width: int = 32,
    batch_size: int = 128, lr: float = 2e-3, seed: int = 0, checkpoint_minutes: float = 3.0, progress: bool = True,
    steps: int | None = None,
) -> dict:
    """Train the world labeler for a time budget, resumably; write weights and card to ``out``.

    Parameters
    ----------
    out
        Folder for ``model.safetensors``, ``config.json``, ``card.json``, ``card.md``
        (and ``checkpoint.safetensors`` while training, safetensors + JSON, no pickle; a rerun resumes from it).
    n_train, n_eval
        Training pool and held-out sizes (renders from seeds ``seed`` and ``seed + 1``).
    minutes
        Training time budget (cosine learning-rate schedule over it).
    steps
        Train exactly this many steps instead (cosine schedule over steps): the
        result then does not depend on the machine's speed.
    width
        Base channel width of the CNN.

    ``out`` is locked while training writes it: a second run on it is refused.

    Returns
    -------
    dict
        The labeler card.
    """
    with locked_output(Path(out), command="another labeler training run"):
        return _train_world_labeler(out=out, n_train=n_train, n_eval=n_eval, minutes=minutes, width=width,
                                    batch_size=batch_size, lr=lr, seed=seed, checkpoint_minutes=checkpoint_minutes,
                                    progress=progress, steps=steps)


def _train_world_labeler(
    *, out: str | Path, n_train: int = 60000, n_eval: int = 6000, minutes: float = 20.0, width: int = 32,
    batch_size: int = 128, lr: float = 2e-3, seed: int = 0, checkpoint_minutes: float = 3.0, progress: bool = True,
    steps: int | None = None,
) -> dict:
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    images, attrs = render_pool(n_train, seed=seed, progress=progress)
    y = {k: torch.from_numpy(v) for k, v in targets(attrs).items()}
    model = build_model(width=width).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    state = {"step": 0, "elapsed": 0.0}
    gen = torch.Generator().manual_seed(seed)
    ckpt = out / "checkpoint.safetensors"
    if ckpt.exists():
        saved = load_checkpoint(ckpt)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        gen.set_state(saved["gen"])
        print(f"resumed from {ckpt} at step {state['step']} ({state['elapsed'] / 60:.1f} min)")
    budget = minutes * 60

    def progress_fraction() -> float:
        return state["step"] / steps if steps else state["elapsed"] / budget

    # soft ordinal targets for skin tone: mass on neighbours keeps errors within +-1
    eye = torch.eye(10)
    soft = 0.8 * eye + 0.1 * (torch.roll(eye, 1, 1) + torch.roll(eye, -1, 1))
    soft[0, 9] = soft[9, 0] = 0
    soft = soft / soft.sum(1, keepdim=True)
    model.train()
    last_ckpt = time.time()
    bar = tqdm(total=100, unit="%", desc="train labeler", disable=not progress)
    while progress_fraction() < 1:
        t0 = time.time()
        idx = torch.randint(0, n_train, (batch_size,), generator=gen)
        x = augment(_to_tensor(images[idx.numpy()]), generator=gen).contiguous(memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * min(1.0, progress_fraction())))
        logits = model(x)
        loss = sum(F.cross_entropy(v, y[k][idx]) for k, v in logits.items() if k != "skin_tone")
        loss = loss + 2.0 * -(soft[y["skin_tone"][idx]] * F.log_softmax(logits["skin_tone"], 1)).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        dt = time.time() - t0
        state["elapsed"] += dt
        bar.update(int(100 * progress_fraction()) - bar.n)
        if state["step"] % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", step=state["step"])
        if time.time() - last_ckpt > checkpoint_minutes * 60:
            save_checkpoint(ckpt, {"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                                   "gen": gen.get_state()})
            last_ckpt = time.time()
    bar.close()
    eval_images, eval_attrs = render_pool(n_eval, seed=seed + 1, progress=progress)
    card = {
        "clean": evaluate(model, eval_images, eval_attrs),
        "augmented": evaluate(model, eval_images, eval_attrs, augmented=True, seed=seed + 2),
        "training": {"n_train": n_train, "n_eval": n_eval, "minutes": minutes, "steps": state["step"], "width": width,
                     "batch_size": batch_size, "lr": lr, "seed": seed, "data": "balanced world renders",
                     "command": f"imagen-audit train labeler --out {out} --n-train {n_train} "
                     + (f"--steps {steps}" if steps else f"--minutes {minutes}") + f" --seed {seed}"},
    }
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tmp = out / "model.safetensors.tmp"
    save_file(weights, str(tmp))
    tmp.replace(out / "model.safetensors")
    atomic_write_bytes(out / "config.json", json.dumps({"width": width, "heads": {k: list(v) for k, v in HEADS.items()}}, indent=2).encode())
    atomic_write_bytes(out / "card.json", json.dumps(card, indent=1).encode())
    atomic_write_bytes(out / "card.md", card_markdown(card).encode())
    if ckpt.exists():
        ckpt.unlink()
    return card
