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
