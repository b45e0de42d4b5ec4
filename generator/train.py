"""Train the cascade's stages on a LAION-style dataset (webdataset shards), resumably.

``imagen-audit train generator --data DIR --stage base|sr --out TRAIN_DIR`` reads
the shards through :mod:`audit.shards`, caches decoded images and frozen-encoder
token states under ``TRAIN_DIR/cache`` (the encoder is never trained), and
trains one stage with AdamW, warm-up, gradient clipping and an EMA copy.
Checkpoints (model, EMA, optimizer, step, RNG) go to ``TRAIN_DIR/STAGE/checkpoint.safetensors``
(safetensors + JSON, :mod:`audit.checkpoint`; never pickle)
every few minutes; the same command resumes. The EMA U-Net is exported to
``TRAIN_DIR/STAGE/unet`` (diffusers folder, safetensors), and
:func:`assemble_pipeline` joins both stages into a pipeline folder.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audit.checkpoint import load_checkpoint, save_checkpoint
from audit.outdir import locked_output
from audit.files import atomic_write_bytes
from audit.shards import complete_shards, shard_name
from audit.tarread import iter_tar_samples
from generator.cascade import (
    BASE_PRESETS, PREDICTION_TYPES, SR_PRESETS, TRAIN_SCHEDULE, ImagenCascadePipeline, blur_augment, build_unet,
    from_uint8, noise_augment, stage_resolution, training_target, unet_forward, upsample, warm_start,
)
from generator.text_encoder import DEFAULT_ENCODER, MAX_TOKENS, FrozenTextEncoder

__all__ = ["TrainingData", "load_training_data", "train_stage", "assemble_pipeline", "StageConfig"]


@dataclass
class TrainingData:
    """Decoded images (uint8, N x 64 x 64 x 3), token states (fp16) and masks."""

    images: np.ndarray
    states: np.ndarray
    masks: np.ndarray
    captions: list[str]


def _decode_png(data: bytes) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB").resize((64, 64), Image.BOX) if im.size != (64, 64) else im.convert("RGB"))
        return arr
    except Exception:  # noqa: BLE001 - corrupt images are skipped and counted
        return None


def load_training_data(data_dir: str | Path, *, cache_dir: str | Path, encoder: str = DEFAULT_ENCODER,
                       max_items: int | None = None, max_tokens: int = MAX_TOKENS, progress: bool = True,
                       random_encoder: bool = False) -> TrainingData:
    """Decode the dataset's images and captions and encode captions once with the frozen encoder (cached).

    Corrupt samples (undecodable image, missing caption) are skipped and counted.
    ``random_encoder`` encodes with a randomly initialised copy of the encoder (ablation control).
    A cache made with other settings is never reused or overwritten: name another ``cache_dir``.
    """
    from tqdm import tqdm

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    meta_path = cache / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("data") == str(Path(data_dir).resolve()) and meta.get("max_items") == max_items \
                and meta.get("encoder") == encoder and meta.get("max_tokens") == max_tokens \
                and meta.get("random_encoder", False) == random_encoder:
            return TrainingData(np.load(cache / "images.npy"), np.load(cache / "states.npy", mmap_mode="r"),
                                np.load(cache / "masks.npy"), json.loads((cache / "captions.json").read_text()))
        raise ValueError(f"{cache}: this caption cache was made with other settings ({meta}); "
                         "fix: train into another --out folder, or delete the cache to rebuild it")
    shards = complete_shards(Path(data_dir))
    if not shards:
        raise FileNotFoundError(f"{data_dir}: no complete webdataset shards (NNNNN.tar + NNNNN.parquet) found "
                                "(fix: build one with `imagen-audit world build --out DIR`)")
    images, captions, skipped = [], [], 0
    for s in tqdm(shards, desc="decode shards", unit="shard", disable=not progress):
        for sample in iter_tar_samples(Path(data_dir) / f"{shard_name(s)}.tar", extensions={"png", "jpg", "jpeg", "txt"}):
            img = next((sample.files[e] for e in ("png", "jpg", "jpeg") if e in sample.files), None)
            arr = _decode_png(img) if img is not None else None
            text = sample.files.get("txt")
            if arr is None or text is None:
                skipped += 1
                continue
            images.append(arr)
            captions.append(text.decode("utf-8", errors="replace"))
            if max_items and len(images) >= max_items:
                break
        if max_items and len(images) >= max_items:
            break
    enc = FrozenTextEncoder.load(encoder, max_tokens=max_tokens, random_init=random_encoder)
    unique = sorted(set(captions), key=lambda c: len(c))
    index = {c: i for i, c in enumerate(unique)}
    u_states = np.zeros((len(unique), max_tokens, enc.dim), np.float16)
    u_masks = np.zeros((len(unique), max_tokens), bool)
    step = 256
    for i in tqdm(range(0, len(unique), step), desc="encode captions (frozen)", unit="batch", disable=not progress):
        s, m = enc.encode(unique[i:i + step])
        u_states[i:i + step] = s.numpy().astype(np.float16)
        u_masks[i:i + step] = m.numpy()
    rows = np.array([index[c] for c in captions])
    data = TrainingData(np.stack(images), u_states[rows], u_masks[rows], captions)
    for name, arr in (("images", data.images), ("states", data.states), ("masks", data.masks)):
        buf = io.BytesIO()
        np.save(buf, arr)
        atomic_write_bytes(cache / f"{name}.npy", buf.getvalue())
    atomic_write_bytes(cache / "captions.json", json.dumps(captions).encode())
    atomic_write_bytes(meta_path, json.dumps({"data": str(Path(data_dir).resolve()), "max_items": max_items,
                                              "encoder": encoder, "max_tokens": max_tokens, "n": len(images),
                                              "random_encoder": random_encoder,
                                              "unique_captions": len(unique), "skipped": skipped}).encode())
    if skipped:
        print(f"skipped {skipped} corrupt samples")
    return data


@dataclass(frozen=True)
class StageConfig:
    """Hyper-parameters of one stage (defaults from measurements on 2 CPU cores)."""

    stage: str = "base"
    preset: str = "base-16"
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 250
    ema: float = 0.998
    text_dropout: float = 0.1
    crop: int = 32            # SR: random crops of the 64 px image
    max_aug_level: float = 0.5  # SR: noise-conditioning augmentation levels ~ U(0, max)
    prediction_type: str | None = None  # None: epsilon for base, v_prediction for sr (see cascade.PREDICTION_TYPES)
    residual_scale: float | None = None  # SR: > 0 diffuses (image - upsampled low-res) * scale; None: 2 (sr), 0 (base)
    cond_blur: float = 0.0    # SR: share of low-res inputs blurred (blur_augment), sigma ~ U(cond_blur_sigma)
    cond_blur_sigma: tuple[float, float] = (0.3, 1.2)
    low_res: int = 16         # SR: the base stage's resolution its input is downsampled to

    @property
    def target(self) -> str:
        """The prediction type this stage trains."""
        chosen = self.prediction_type or ("epsilon" if self.stage == "base" else "v_prediction")
        if chosen not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {chosen!r}")
        return chosen

    @property
    def residual(self) -> float:
        """The SR residual scale this stage trains (0 = diffuse the image itself)."""
        chosen = self.residual_scale if self.residual_scale is not None else (0.0 if self.stage == "base" else 2.0)
        if chosen < 0 or (self.stage == "base" and chosen):
            raise ValueError(f"residual_scale must be >= 0, and 0 for the base stage; got {chosen!r}")
        return float(chosen)


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.mul_(decay).add_(p.detach(), alpha=1 - decay)


def _batch(data: TrainingData, idx: np.ndarray, cfg: StageConfig, gen: torch.Generator):
    x = from_uint8(data.images[idx])
    states = torch.from_numpy(np.asarray(data.states[idx], dtype=np.float32))
    masks = torch.from_numpy(data.masks[idx])
    drop = torch.rand(len(idx), generator=gen) < cfg.text_dropout
    states[drop] = 0.0
    masks[drop] = True
    return x, states, masks


def _refuse_other_target(trained: dict, cfg: StageConfig, *, where: str, fix) -> None:
    """Raise when ``trained`` (a stage's saved settings) differs from ``cfg`` in what the net predicts."""
    for key, asked in (("prediction_type", cfg.target), ("residual_scale", cfg.residual)):
        if trained[key] != asked:
            raise ValueError(f"{where} was trained with {key}={trained[key]!r}, not {asked!r} "
                             f"(fix: {fix(key, trained[key])})")


def _warm_start_from(model: torch.nn.Module, source: Path, cfg: StageConfig) -> list[str]:
    from diffusers import UNet2DConditionModel

    folder = source / "unet" if (source / "unet").is_dir() else source
    if not (folder / "config.json").exists():
        raise ValueError(f"{source}: not a trained stage folder (no unet/config.json; fix: pass TRAIN_DIR/{cfg.stage})")
    info = folder.parent / "stage.json"
    if info.exists():
        was = json.loads(info.read_text())
        # an explicitly asked prediction type may differ: a deliberate switch (e.g. an epsilon net
        # fine-tuned to v-prediction, which keeps few-step x0 estimates stable at the noisiest steps)
        kept = cfg.target if cfg.prediction_type is not None else was.get("prediction_type", cfg.target)
        _refuse_other_target({"prediction_type": kept,
                              "residual_scale": was.get("residual_scale", cfg.residual)}, cfg,
                             where=f"{info}: the source", fix=lambda key, value: f"pass --{key.replace('_', '-')} {value}")
    return warm_start(model, UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32))


def train_stage(data: TrainingData, *, out: str | Path, cfg: StageConfig, minutes: float | None = None,
                steps: int | None = None, seed: int = 0, checkpoint_minutes: float = 3.0, progress: bool = True,
                log_every: int = 50, init_from: str | Path | None = None) -> dict:
    """Train one stage for a time budget and/or a step budget (totals across resumes); resume from
    ``out/STAGE/checkpoint.safetensors`` if present. A step budget makes runs machine-independent.

    ``init_from`` (a trained stage folder, e.g. ``OLD_TRAIN_DIR/sr``) warm-starts a fresh run from
    that stage's EMA U-Net: matching weights are copied and new attention layers start as
    identities (:func:`generator.cascade.warm_start`). It is ignored when a checkpoint resumes.

    The stage folder ``out/STAGE`` is locked while training writes it: a second run on it is refused.

    Returns
    -------
    dict
        ``{"step", "elapsed_minutes", "loss"}`` at the end.
    """
    stage_dir = Path(out) / cfg.stage
    with locked_output(stage_dir, command=f"another training run of the {cfg.stage} stage"):
        return _train_stage(data, out=out, cfg=cfg, minutes=minutes, steps=steps, seed=seed,
                            checkpoint_minutes=checkpoint_minutes, progress=progress, log_every=log_every,
                            init_from=init_from)


def _train_stage(data: TrainingData, *, out: str | Path, cfg: StageConfig, minutes: float | None = None,
                 steps: int | None = None, seed: int = 0, checkpoint_minutes: float = 3.0, progress: bool = True,
                 log_every: int = 50, init_from: str | Path | None = None) -> dict:
    from diffusers import DDPMScheduler
    from tqdm import tqdm

    if minutes is None and steps is None:
        raise ValueError("give a time budget (minutes) or a step budget (steps)")
    torch.manual_seed(seed)
    stage_dir = Path(out) / cfg.stage
    stage_dir.mkdir(parents=True, exist_ok=True)
    presets = BASE_PRESETS if cfg.stage == "base" else SR_PRESETS
    if cfg.preset not in presets:
        raise ValueError(f"preset {cfg.preset!r} is not a {cfg.stage} preset: {list(presets)}")
    text_dim = data.states.shape[-1]
    model = build_unet(presets[cfg.preset], text_dim=text_dim)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = DDPMScheduler(**TRAIN_SCHEDULE)
    alphas = sched.alphas_cumprod
    gen = torch.Generator().manual_seed(seed)
    state = {"step": 0, "elapsed": 0.0, "losses": []}
    ckpt = stage_dir / "checkpoint.safetensors"
    if ckpt.exists() or (stage_dir / "checkpoint.pt").exists():
        saved = _load_checkpoint(stage_dir)
        model.load_state_dict(saved["model"])
        ema.load_state_dict(saved["ema"])
        opt.load_state_dict(saved["opt"])
        gen.set_state(saved["gen"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        was = saved.get("config", {})
        _refuse_other_target({"prediction_type": was.get("prediction_type") or "epsilon",
                              "residual_scale": was.get("residual_scale", 0.0)}, cfg, where=str(ckpt),
                             fix=lambda key, _: f"train into a fresh --out folder, or pass the original {key}")
        print(f"resumed {cfg.stage} from {ckpt} at step {state['step']} ({state['elapsed'] / 60:.1f} min)")
    elif init_from is not None:
        new = _warm_start_from(model, Path(init_from), cfg)
        ema = copy.deepcopy(model).requires_grad_(False)
        print(f"warm-started {cfg.stage} from {init_from} ({len(new)} new parameters)")
    log = open(stage_dir / "train_log.jsonl", "a")

    def save() -> None:
        save_checkpoint(ckpt, {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                               "state": state, "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                               "config": {**cfg.__dict__, "prediction_type": cfg.target,
                                          "residual_scale": cfg.residual}})
        (stage_dir / "checkpoint.pt").unlink(missing_ok=True)  # an older pickle checkpoint is superseded
        export = copy.deepcopy(ema).to(torch.float16)
        tmp = stage_dir / "unet.tmp"
        export.save_pretrained(tmp, safe_serialization=True)
        final = stage_dir / "unet"
        if final.exists():
            import shutil

            shutil.rmtree(final)
        tmp.rename(final)
        info = {"prediction_type": cfg.target, "step": state["step"], "preset": cfg.preset,
                "residual_scale": cfg.residual}
        if cfg.stage == "sr":  # the base resolution the SR input was made at (assembly checks it)
            info["low_res"] = cfg.low_res
        atomic_write_bytes(stage_dir / "stage.json", json.dumps(info).encode())

    n = len(data.images)
    budget = math.inf if minutes is None else minutes * 60
    max_steps = math.inf if steps is None else steps
    last = time.time()
    by_steps = steps is not None
    bar = tqdm(total=steps if by_steps else int(budget), initial=state["step"] if by_steps else int(state["elapsed"]),
               unit="step" if by_steps else "s", desc=f"train {cfg.stage}", disable=not progress)
    model.train()
    while state["elapsed"] < budget and state["step"] < max_steps:
        t0 = time.time()
        idx = torch.randint(0, n, (cfg.batch_size,), generator=gen).numpy()
        x, states, masks = _batch(data, idx, cfg, gen)
        kwargs = {}
        if cfg.stage == "base":
            size = stage_resolution(model)
            x0 = F.interpolate(x, size=(size, size), mode="area")
            model_extra = None
        else:
            low = F.interpolate(x, size=(cfg.low_res, cfg.low_res), mode="area")
            if cfg.cond_blur > 0:
                lo, hi = cfg.cond_blur_sigma
                sigma = lo + (hi - lo) * torch.rand(cfg.batch_size, generator=gen)
                sigma = sigma * (torch.rand(cfg.batch_size, generator=gen) < cfg.cond_blur)
                low = blur_augment(low, sigma)
            up = upsample(low, x.shape[-1])
            c = cfg.crop
            oy, ox = (torch.randint(0, x.shape[-1] - c + 1, (2,), generator=gen)).tolist()
            x0 = x[..., oy:oy + c, ox:ox + c]
            if cfg.residual > 0:
                x0 = (x0 - up[..., oy:oy + c, ox:ox + c]) * cfg.residual
            level = torch.rand(cfg.batch_size, generator=gen) * cfg.max_aug_level
            model_extra = noise_augment(up[..., oy:oy + c, ox:ox + c], level, generator=gen)
            kwargs["class_labels"] = (level * 999).round().long()
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, sched.config.num_train_timesteps, (cfg.batch_size,), generator=gen)
        xt = sched.add_noise(x0, noise, t)
        inp = xt if model_extra is None else torch.cat([xt, model_extra], dim=1)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * min(1.0, (state["step"] + 1) / cfg.warmup)
        pred = unet_forward(model, inp, t, encoder_hidden_states=states, encoder_attention_mask=masks, **kwargs)
        loss = F.mse_loss(pred, training_target(x0, noise, alphas[t].view(-1, 1, 1, 1), cfg.target))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        _ema_update(ema, model, cfg.ema if state["step"] > cfg.warmup else 0.9)
        state["step"] += 1
        state["elapsed"] += time.time() - t0
        state["losses"] = (state["losses"] + [loss.item()])[-200:]
        bar.update((state["step"] if by_steps else int(state["elapsed"])) - bar.n)
        if state["step"] % log_every == 0:
            avg = float(np.mean(state["losses"][-log_every:]))
            bar.set_postfix(step=state["step"], loss=f"{avg:.4f}")
            log.write(json.dumps({"step": state["step"], "minutes": round(state["elapsed"] / 60, 2), "loss": avg}) + "\n")
            log.flush()
        if time.time() - last > checkpoint_minutes * 60:
            save()
            last = time.time()
    bar.close()
    save()
    log.close()
    return {"step": state["step"], "elapsed_minutes": state["elapsed"] / 60,
            "loss": float(np.mean(state["losses"][-100:])) if state["losses"] else math.nan}


def _load_checkpoint(stage_dir: Path) -> dict:
    """Read ``checkpoint.safetensors`` (or an older ``checkpoint.pt`` with torch's tensors-only loader: no pickle code runs)."""
    new = stage_dir / "checkpoint.safetensors"
    if new.exists():
        return load_checkpoint(new)
    return torch.load(stage_dir / "checkpoint.pt", weights_only=True)


def assemble_pipeline(train_dir: str | Path, *, out: str | Path, encoder: str = DEFAULT_ENCODER) -> Path:
    """Join the EMA U-Nets of both stages into a pipeline folder (``save_pretrained``, fp16 safetensors)."""
    from diffusers import UNet2DConditionModel

    train_dir = Path(train_dir)
    units, stages = {}, {}
    for stage in ("base", "sr"):
        info = train_dir / stage / "stage.json"
        stages[stage] = json.loads(info.read_text()) if info.exists() else {"prediction_type": "epsilon"}
        folder = train_dir / stage / "unet"
        if not folder.exists():
            raise FileNotFoundError(f"{folder}: no trained {stage} U-Net (fix: run `imagen-audit train generator "
                                    f"--stage {stage} --out {train_dir}` first)")
        units[stage] = UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32)
    trained_on, base_res = stages["sr"].get("low_res", 16), stage_resolution(units["base"])
    if trained_on != base_res:
        raise ValueError(f"{train_dir / 'sr'}: the SR stage was trained on {trained_on} px inputs but the base makes "
                         f"{base_res} px images (fix: train the SR with --low-res {base_res})")
    meta = train_dir / "cache" / "meta.json"
    random_init = bool(json.loads(meta.read_text()).get("random_encoder", False)) if meta.exists() else False
    pipe = ImagenCascadePipeline(base_unet=units["base"], sr_unet=units["sr"], text_encoder_name=encoder,
                                 base_prediction_type=stages["base"]["prediction_type"],
                                 sr_prediction_type=stages["sr"]["prediction_type"],
                                 sr_residual_scale=stages["sr"].get("residual_scale", 0.0),
                                 text_encoder_random_init=random_init)
    out = Path(out)
    pipe.to(torch.float16).save_pretrained(out, safe_serialization=True)
    for config in out.glob("*/config.json"):   # drop the training folder's path (machine-specific)
        fields = json.loads(config.read_text())
        fields.pop("_name_or_path", None)
        config.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
    return out
