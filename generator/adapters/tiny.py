"""A tiny, randomly initialised Stable Diffusion pipeline built offline from configs.

For tests, smoke runs and benchmarks of the run machinery: it draws noise-like
16 x 16 images in milliseconds, needs no download, and is deterministic for a seed.

Examples
--------
>>> import tempfile
>>> folder = save_tiny_stable_diffusion(tempfile.mkdtemp())
>>> (folder / "model_index.json").is_file()
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["tiny_clip_tokenizer", "save_tiny_stable_diffusion"]


def tiny_clip_tokenizer(*, max_length: int = 77):
    """Return a byte-level CLIP tokenizer with a 514-token vocabulary (bytes, bytes+``</w>``, specials).

    Examples
    --------
    >>> tok = tiny_clip_tokenizer()
    >>> len(tok("a nurse").input_ids)
    8
    """
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def save_tiny_stable_diffusion(folder: str | Path, *, seed: int = 0, size: int = 16) -> Path:
    """Build a tiny random ``StableDiffusionPipeline`` and save it to ``folder/tiny-sd``.

    Parameters
    ----------
    folder
        Parent folder; the pipeline goes to ``folder/tiny-sd``.
    seed
        Seed of the random weights.
    size
        Image side in pixels (the VAE does not downsample, so latents are ``size`` too).

    Returns
    -------
    pathlib.Path
        The pipeline folder, loadable with ``DiffusionPipeline.from_pretrained``.

    Examples
    --------
    >>> import tempfile
    >>> save_tiny_stable_diffusion(tempfile.mkdtemp()).name
    'tiny-sd'
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=size, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, norm_num_groups=4, attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(8,), in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",), latent_channels=4, norm_num_groups=4, sample_size=size,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, hidden_size=16,
        intermediate_size=32, num_attention_heads=2, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=77, projection_dim=16,
    ))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    out = Path(folder) / "tiny-sd"
    pipe.save_pretrained(out)
    return out


def tiny_t5_tokenizer():
    """Return a tiny Unigram T5 tokenizer (letters, ``-``, word-initial letters, specials), built offline.

    Examples
    --------
    >>> tiny_t5_tokenizer()("a nurse").input_ids[-1]
    1
    """
    import string

    from transformers import T5Tokenizer

    letters = string.ascii_lowercase
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(c, -1.0) for c in "\u2581" + letters + "-"] + [("\u2581" + c, -1.5) for c in letters]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _if_unet(*, sample_size: int, in_channels: int, superres: bool):
    from diffusers import UNet2DConditionModel

    extra = dict(class_embed_type="timestep", mid_block_scale_factor=1.414, time_embedding_act_fn="gelu",
                 time_embedding_dim=32) if superres else {}
    return UNet2DConditionModel(
        sample_size=sample_size, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        in_channels=in_channels, out_channels=6, cross_attention_dim=32, encoder_hid_dim=32, attention_head_dim=8,
        addition_embed_type="text", addition_embed_type_num_heads=2, cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift", act_fn="gelu", **extra,
    )


def save_tiny_deepfloyd_if(folder: str | Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Build tiny random DeepFloyd IF stage I (8 px) and stage II (32 px) pipelines and save them.

    Returns
    -------
    tuple of pathlib.Path
        ``(folder/tiny-if-1, folder/tiny-if-2)``.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in save_tiny_deepfloyd_if(tempfile.mkdtemp())]
    ['tiny-if-1', 'tiny-if-2']
    """
    import torch
    from diffusers import DDPMScheduler, IFPipeline, IFSuperResolutionPipeline
    from transformers import T5Config, T5EncoderModel

    def scheduler(**kw):
        return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", beta_start=0.0001,
                             beta_end=0.02, **kw)

    def sampler():
        return scheduler(thresholding=True, dynamic_thresholding_ratio=0.95, sample_max_value=1.0,
                         prediction_type="epsilon", variance_type="learned_range")

    torch.manual_seed(seed)
    tokenizer = tiny_t5_tokenizer()
    encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                      num_heads=4, pad_token_id=0, eos_token_id=1))
    common = dict(safety_checker=None, feature_extractor=None, watermarker=None, requires_safety_checker=False)
    first = IFPipeline(tokenizer=tokenizer, text_encoder=encoder, scheduler=sampler(),
                       unet=_if_unet(sample_size=8, in_channels=3, superres=False), **common)
    second = IFSuperResolutionPipeline(tokenizer=tokenizer, text_encoder=encoder, scheduler=sampler(),
                                       image_noising_scheduler=scheduler(),
                                       unet=_if_unet(sample_size=32, in_channels=6, superres=True), **common)
    out1, out2 = Path(folder) / "tiny-if-1", Path(folder) / "tiny-if-2"
    first.save_pretrained(out1)
    second.save_pretrained(out2)
    return out1, out2
