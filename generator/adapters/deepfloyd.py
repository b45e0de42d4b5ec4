"""``diffusers-if:STAGE1,STAGE2``: DeepFloyd IF as two diffusers pipelines (64 px base, 256 px super-resolution).

The prompt is encoded once by stage I's T5 encoder; stage II is loaded without a
text encoder and reuses those embeddings, as in the DeepFloyd IF model card::

    diffusers-if:DeepFloyd/IF-I-M-v1.0,DeepFloyd/IF-II-M-v1.0
    diffusers-if:DeepFloyd/IF-I-XL-v1.0,DeepFloyd/IF-II-L-v1.0

(the checkpoints are gated on the hub: accept the licence, download them, then run
offline, or pass ``--allow-download``). Sweeps of ``scheduler`` and ``thresholding``
apply to stage I; ``steps`` and ``guidance`` to stage I, with stage II using
``sr_steps`` and ``sr_guidance``.

Examples
--------
>>> a = DeepFloydIFAdapter("DeepFloyd/IF-I-M-v1.0", "DeepFloyd/IF-II-M-v1.0", steps=50)
>>> a.config()["stages"]
['DeepFloyd/IF-I-M-v1.0', 'DeepFloyd/IF-II-M-v1.0']
"""

from __future__ import annotations

from typing import Any

from generator.adapters.base import Settings, image_outcome, mark
from generator.adapters.diffusers_adapter import (
    apply_scheduler, folder_fingerprint, load_pipeline, mark_safety_flags, one_image_per_prompt, torch_generators,
)

__all__ = ["DeepFloydIFAdapter", "mark_if_checker"]


def _loadable_if_checker() -> None:
    """Let IF's safety checker load under transformers >= 5 (diffusers' IF checker skips ``post_init``).

    Stable Diffusion's checker calls ``post_init`` since diffusers 0.36; the IF one does not, so
    loading a real IF folder (which ships ``safety_checker/``) fails with "'IFSafetyChecker'
    object has no attribute 'all_tied_weights_keys'". This wraps its ``__init__`` once to call
    ``post_init`` when the attribute is missing (a no-op once diffusers fixes it).
    """
    try:
        from diffusers.pipelines.deepfloyd_if.safety_checker import IFSafetyChecker
    except ImportError:  # pragma: no cover - diffusers without IF
        return
    if getattr(IFSafetyChecker.__init__, "_calls_post_init", False):
        return
    init = IFSafetyChecker.__init__

    def __init__(self, config):
        init(self, config)
        if not hasattr(self, "all_tied_weights_keys"):
            self.post_init()

    __init__._calls_post_init = True
    IFSafetyChecker.__init__ = __init__


def mark_if_checker(images: list, nsfw, watermark) -> list:
    """Record IF's safety checker: it blacks out images it flags as NSFW *or* as watermarked.

    An NSFW verdict is recorded as ``filtered`` with reason ``nsfw_content_detected`` (as for
    Stable Diffusion's checker); a watermark verdict alone as ``filtered`` with reason
    ``watermark_detected``. Without a checker (both ``None``) the images stay unmarked.

    Examples
    --------
    >>> from PIL import Image
    >>> ims = mark_if_checker([Image.new("RGB", (1, 1)) for _ in range(3)], [True, False, False], [True, True, False])
    >>> [(im.info["filtered"], im.info["filter_reason"]) for im in ims]
    [(True, 'nsfw_content_detected'), (True, 'watermark_detected'), (False, None)]
    """
    if nsfw is None and watermark is None:
        return images
    images = mark_safety_flags(images, [False] * len(images) if nsfw is None else nsfw)
    watermark = [False] * len(images) if watermark is None else list(watermark)
    if len(watermark) != len(images):
        raise RuntimeError(f"the safety checker returned {len(watermark)} watermark verdicts for {len(images)} images")
    for im, w in zip(images, watermark):
        if w and not image_outcome(im)["filtered"]:
            mark(im, filtered=True, reason="watermark_detected")
    return images


class DeepFloydIFAdapter:
    """DeepFloyd IF stage I + II behind the generator protocol.

    Parameters
    ----------
    stage1, stage2
        Folders or hub ids of the IF stage I (``IFPipeline``) and stage II
        (``IFSuperResolutionPipeline``) checkpoints.
    dtype, device, allow_download
        As for :class:`~generator.adapters.diffusers_adapter.DiffusersAdapter`.
    steps, guidance
        Stage I steps and guidance (``None``: the pipeline's defaults).
    sr_steps, sr_guidance
        Stage II steps and guidance (``None``: the pipeline's defaults).

    Examples
    --------
    >>> DeepFloydIFAdapter("a", "b").config()["kind"]
    'diffusers-if'
    """

    def __init__(self, stage1: str, stage2: str, *, dtype: str = "float32", device: str = "cpu",
                 steps: int | None = None, guidance: float | None = None, sr_steps: int | None = None,
                 sr_guidance: float | None = None, allow_download: bool = False) -> None:
        self.stage1, self.stage2, self.dtype, self.device = str(stage1), str(stage2), dtype, device
        self.steps, self.guidance, self.sr_steps, self.sr_guidance = steps, guidance, sr_steps, sr_guidance
        self.allow_download = allow_download
        self._pipes = None
        self._default_scheduler = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pipes"] = state["_default_scheduler"] = None
        return state

    def _pipelines(self):
        if self._pipes is None:
            opts = {"dtype": self.dtype, "device": self.device, "allow_download": self.allow_download}
            _loadable_if_checker()
            first = load_pipeline(self.stage1, **opts)
            second = load_pipeline(self.stage2, text_encoder=None, **opts)
            self._pipes, self._default_scheduler = (first, second), first.scheduler
        return self._pipes

    def generate(self, prompts: list[str], *, seeds: list[int], settings: Settings) -> list:
        """Draw one image per prompt: stage I at 64 px, then stage II at 256 px, both seeded by ``seeds``.

        Examples
        --------
        >>> DeepFloydIFAdapter("a", "b").generate(["x"], seeds=[1, 2], settings=Settings())
        Traceback (most recent call last):
        ...
        ValueError: got 1 prompts but 2 seeds
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        if not prompts:
            return []
        first, second = self._pipelines()
        extra = apply_scheduler(first, self._default_scheduler, settings, label=f"diffusers-if:{self.stage1}")
        prompt_embeds, negative_embeds = first.encode_prompt(list(prompts), do_classifier_free_guidance=True,
                                                             device=first.device)
        steps = settings.steps if settings.steps is not None else self.steps
        guidance = settings.guidance if settings.guidance is not None else self.guidance
        stage1_opts = {k: v for k, v in {"num_inference_steps": steps, "guidance_scale": guidance}.items()
                       if v is not None}
        low = first(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                    generator=torch_generators(seeds, device=self.device), output_type="pt", **stage1_opts,
                    **extra).images
        stage2_opts = {k: v for k, v in {"num_inference_steps": self.sr_steps,
                                         "guidance_scale": self.sr_guidance}.items() if v is not None}
        out = second(image=low, prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                     generator=torch_generators(seeds, device=self.device), output_type="pil",
                     clean_caption=False, **stage2_opts)
        images = one_image_per_prompt(out.images, prompts, source="diffusers-if")
        return mark_if_checker(images, getattr(out, "nsfw_detected", None), getattr(out, "watermark_detected", None))

    def config(self) -> dict[str, Any]:
        """The adapter's recipe and both stages' fingerprints (for ``spec.json``)."""
        import importlib.metadata as md

        return {
            "kind": "diffusers-if", "stages": [self.stage1, self.stage2], "dtype": self.dtype, "device": self.device,
            "steps": self.steps, "guidance": self.guidance, "sr_steps": self.sr_steps,
            "sr_guidance": self.sr_guidance, "allow_download": self.allow_download,
            "fingerprints": [folder_fingerprint(self.stage1), folder_fingerprint(self.stage2)],
            "diffusers": md.version("diffusers"),
        }
