"""``diffusers:PATH_OR_ID``: any diffusers text-to-image pipeline behind the generator protocol.

Real model ids (download them once with ``huggingface-cli download ID``, or pass
``allow_download=True`` / ``--allow-download``)::

    diffusers:stable-diffusion-v1-5/stable-diffusion-v1-5
    diffusers:stabilityai/stable-diffusion-2-1-base
    diffusers:stabilityai/stable-diffusion-xl-base-1.0
    diffusers-if:DeepFloyd/IF-I-M-v1.0,DeepFloyd/IF-II-M-v1.0   (see generator.adapters.deepfloyd)

Examples
--------
>>> a = DiffusersAdapter("path/to/pipeline", steps=25, guidance=7.5)
>>> a.config()["kind"], a.config()["steps"]
('diffusers', 25)
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from pathlib import Path
from typing import Any

from audit.errors import UserError
from generator.adapters.base import Settings, mark

__all__ = ["DiffusersAdapter", "load_pipeline", "torch_generators", "one_image_per_prompt",
           "apply_scheduler", "folder_fingerprint", "mark_safety_flags",
           "DTYPES"]

#: dtype option names accepted by the adapters.
DTYPES = ("float32", "float16", "bfloat16")


def folder_fingerprint(path: str | Path) -> str | None:
    """Return a sha256 over a model folder's file names, sizes and contents (None for hub ids).

    Files above 64 MiB contribute their size and their first and last MiB, so fingerprinting a
    multi-gigabyte checkpoint stays fast while any retrained weights still change the value.

    Examples
    --------
    >>> folder_fingerprint("not/a/folder") is None
    True
    """
    root = Path(path)
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    big = 64 * 2**20
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root).as_posix()}\0{size}\0".encode())
        with open(file, "rb") as fh:
            if size <= big:
                digest.update(fh.read())
            else:
                digest.update(fh.read(2**20))
                fh.seek(size - 2**20)
                digest.update(fh.read())
    return digest.hexdigest()


def load_pipeline(path: str, *, dtype: str, device: str, allow_download: bool, pipeline_class=None, **components):
    """Load a diffusers pipeline from a folder or hub id, offline unless ``allow_download``.

    Parameters
    ----------
    path
        Folder saved with ``save_pretrained`` or a hub model id.
    dtype
        One of :data:`DTYPES`.
    device
        Torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
    allow_download
        Let diffusers fetch missing files from the hub.
    pipeline_class
        The pipeline class to load with (default ``DiffusionPipeline``, which reads the class
        from ``model_index.json``; a custom pipeline class outside diffusers must be given).
    **components
        Passed to ``from_pretrained`` (e.g. ``text_encoder=None``).

    Returns
    -------
    diffusers.DiffusionPipeline

    Raises
    ------
    audit.errors.UserError
        If the pipeline cannot be found or loaded (the message says how to fix it).

    Examples
    --------
    >>> load_pipeline("/nonexistent/x", dtype="float32", device="cpu", allow_download=False)
    Traceback (most recent call last):
    ...
    audit.errors.UserError: diffusers:/nonexistent/x: cannot load the pipeline ...
    """
    if dtype not in DTYPES:
        raise UserError(f"dtype {dtype!r} is not one of {DTYPES} (fix: pass --dtype float32)")
    import torch
    from diffusers import DiffusionPipeline

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = (pipeline_class or DiffusionPipeline).from_pretrained(
                path, torch_dtype=getattr(torch, dtype), local_files_only=not allow_download, **components
            )
    except (OSError, ValueError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ("check the folder holds a model_index.json of a diffusers pipeline" if Path(path).exists() else
                "give a folder saved with save_pretrained, or download the model first "
                "(`huggingface-cli download ID`) or allow downloads (--allow-download)")
        raise UserError(f"diffusers:{path}: cannot load the pipeline ({first[:300]}) (fix: {hint})") from None
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def one_image_per_prompt(images, prompts, *, source: str) -> list:
    """Return ``images`` as a list, checking there is one per prompt.

    Examples
    --------
    >>> one_image_per_prompt(["a"], ["p", "q"], source="x")
    Traceback (most recent call last):
    RuntimeError: x returned 1 images for 2 prompts
    """
    images = list(images)
    if len(images) != len(prompts):
        raise RuntimeError(f"{source} returned {len(images)} images for {len(prompts)} prompts")
    return images


def torch_generators(seeds: list[int], *, device: str) -> list:
    """Return one seeded ``torch.Generator`` per seed (on ``device``).

    Examples
    --------
    >>> [g.initial_seed() for g in torch_generators([1, 2], device="cpu")]
    [1, 2]
    """
    import torch

    gen_device = "cpu" if str(device).startswith("mps") else device
    return [torch.Generator(gen_device).manual_seed(int(s)) for s in seeds]


def _scheduler_classes() -> dict[str, type]:
    from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           EulerDiscreteScheduler, HeunDiscreteScheduler, LMSDiscreteScheduler, PNDMScheduler)

    return {"ddim": DDIMScheduler, "ddpm": DDPMScheduler, "pndm": PNDMScheduler, "euler": EulerDiscreteScheduler,
            "euler-a": EulerAncestralDiscreteScheduler, "dpm": DPMSolverMultistepScheduler,
            "lms": LMSDiscreteScheduler, "heun": HeunDiscreteScheduler}


def apply_scheduler(pipe, default_scheduler, settings: Settings, *, label: str) -> dict[str, Any]:
    """Set ``pipe.scheduler`` for ``settings`` and return extra call kwargs.

    A pipeline whose ``__call__`` takes ``scheduler_name`` / ``thresholding`` (the built-in
    cascade) gets them as call arguments. Otherwise the scheduler is rebuilt from the
    pipeline's default scheduler config: ``scheduler`` picks the class, ``thresholding``
    sets ``thresholding`` (dynamic) or ``clip_sample`` (static) in its config.

    Examples
    --------
    >>> from diffusers import DDIMScheduler
    >>> class P:
    ...     scheduler = None
    ...     def __call__(self, prompt): ...
    >>> p = P()
    >>> apply_scheduler(p, DDIMScheduler(), Settings(scheduler="pndm"), label="x")
    {}
    >>> type(p.scheduler).__name__
    'PNDMScheduler'
    """
    accepted = inspect.signature(pipe.__call__).parameters
    kwargs: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    cls = type(default_scheduler)
    if settings.scheduler is not None:
        if "scheduler_name" in accepted:
            kwargs["scheduler_name"] = settings.scheduler
        elif default_scheduler is None:
            raise UserError(f"{label}: the pipeline has no scheduler to replace (fix: drop the scheduler sweep)")
        else:
            classes = _scheduler_classes()
            if settings.scheduler not in classes:
                raise UserError(f"{label}: unknown scheduler {settings.scheduler!r} "
                                f"(fix: use one of {sorted(classes)})")
            cls = classes[settings.scheduler]
    if settings.thresholding is not None:
        if "thresholding" in accepted:
            kwargs["thresholding"] = settings.thresholding
        elif default_scheduler is None:
            raise UserError(f"{label}: the pipeline has no thresholding option (fix: drop the thresholding sweep)")
        else:
            config = default_scheduler.config
            if "thresholding" not in config or "clip_sample" not in config:
                raise UserError(f"{label}: scheduler {cls.__name__} has no thresholding option "
                                "(fix: also sweep --sweep scheduler=ddim, or drop thresholding)")
            overrides = {"thresholding": settings.thresholding == "dynamic",
                         "clip_sample": settings.thresholding == "static"}
    if default_scheduler is not None:
        pipe.scheduler = cls.from_config(default_scheduler.config, **overrides) if (
            cls is not type(default_scheduler) or overrides) else default_scheduler
    return kwargs


def mark_safety_flags(images: list, flags) -> list:
    """Mark each image with its pipeline's safety-checker verdict (``nsfw_content_detected``).

    A flagged image (blacked out by the checker) is recorded as ``filtered`` with reason
    ``nsfw_content_detected`` (see :mod:`generator.adapters.base`); a pipeline without a
    checker (``flags`` None) leaves the images unmarked.

    Examples
    --------
    >>> from PIL import Image
    >>> ims = mark_safety_flags([Image.new("RGB", (1, 1)), Image.new("RGB", (1, 1))], [True, False])
    >>> [im.info["filtered"] for im in ims], ims[0].info["filter_reason"]
    ([True, False], 'nsfw_content_detected')
    """
    if flags is None:
        return images
    flags = list(flags)
    if len(flags) != len(images):
        raise RuntimeError(f"the safety checker returned {len(flags)} verdicts for {len(images)} images")
    return [mark(im, filtered=bool(f), reason="nsfw_content_detected") for im, f in zip(images, flags)]


class DiffusersAdapter:
    """Any diffusers text-to-image pipeline (Stable Diffusion, SDXL, the built-in cascade, ...).

    Parameters
    ----------
    path
        Folder saved with ``save_pretrained`` or a hub model id.
    dtype
        ``float32`` (default, CPU), ``float16`` or ``bfloat16``.
    device
        Torch device.
    steps, guidance
        Defaults for ``num_inference_steps`` and ``guidance_scale`` (a sweep overrides them;
        ``None``: the pipeline's own defaults).
    height, width
        Output size in pixels (``None``: the pipeline's default).
    allow_download
        Let diffusers fetch from the hub (off by default: runs are offline).
    kind
        Name recorded in ``spec.json`` (``diffusers`` or ``builtin``).
    pipeline_class
        Pipeline class to load with (see :func:`load_pipeline`).
    negative_prompt
        Negative prompt for every image (the pipeline must take ``negative_prompt``).

    Examples
    --------
    >>> DiffusersAdapter("folder", device="cpu").config()["device"]
    'cpu'
    """

    def __init__(self, path: str | Path, *, dtype: str = "float32", device: str = "cpu", steps: int | None = None,
                 guidance: float | None = None, height: int | None = None, width: int | None = None,
                 allow_download: bool = False, kind: str = "diffusers", pipeline_class: type | None = None,
                 negative_prompt: str | None = None) -> None:
        self.path, self.dtype, self.device = str(path), dtype, device
        self.negative_prompt = negative_prompt or None
        self.steps = None if steps is None else int(steps)
        self.guidance = None if guidance is None else float(guidance)
        self.height, self.width = height, width
        self.allow_download, self.kind, self.pipeline_class = allow_download, kind, pipeline_class
        self._pipe = None
        self._default_scheduler = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pipe"] = state["_default_scheduler"] = None  # ship the recipe, not the model
        return state

    def _pipeline(self):
        if self._pipe is None:
            self._pipe = load_pipeline(self.path, dtype=self.dtype, device=self.device,
                                       allow_download=self.allow_download, pipeline_class=self.pipeline_class)
            self._default_scheduler = getattr(self._pipe, "scheduler", None)
        return self._pipe

    def generate(self, prompts: list[str], *, seeds: list[int], settings: Settings) -> list:
        """Draw one image per prompt with the given seeds.

        Parameters
        ----------
        prompts
            Prompts, one per image.
        seeds
            One seed per prompt; image ``i`` depends only on ``prompts[i]``, ``seeds[i]`` and
            ``settings``.
        settings
            Sampler settings (``None`` fields fall back to the adapter's defaults).

        Returns
        -------
        list of PIL.Image.Image

        Examples
        --------
        >>> DiffusersAdapter("x").generate(["a"], seeds=[], settings=Settings())
        Traceback (most recent call last):
        ...
        ValueError: got 1 prompts but 0 seeds
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        if not prompts:
            return []
        pipe = self._pipeline()
        kwargs = apply_scheduler(pipe, self._default_scheduler, settings, label=f"{self.kind}:{self.path}")
        steps = settings.steps if settings.steps is not None else self.steps
        guidance = settings.guidance if settings.guidance is not None else self.guidance
        optional = {"height": self.height, "width": self.width, "num_inference_steps": steps,
                    "guidance_scale": guidance}
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if self.negative_prompt is not None:
            if "negative_prompt" not in inspect.signature(pipe.__call__).parameters:
                raise UserError(f"{self.kind}:{self.path}: the pipeline takes no negative prompt "
                                "(fix: drop --negative-prompt)")
            kwargs["negative_prompt"] = [self.negative_prompt] * len(prompts)
        out = pipe(
            prompt=list(prompts),
            generator=torch_generators(seeds, device=self.device),
            output_type="pil",
            **kwargs,
        )
        images = one_image_per_prompt(out.images, prompts, source=f"{self.kind}:{self.path}")
        return mark_safety_flags(images, getattr(out, "nsfw_content_detected", None))

    def effective(self, settings: Settings) -> dict[str, Any]:
        """The sampler values a call with ``settings`` uses: the setting, else the adapter's option,
        else the pipeline's own default (read from its ``__call__`` signature and scheduler).

        Examples
        --------
        >>> import tempfile
        >>> from generator.adapters.tiny import save_tiny_stable_diffusion
        >>> a = DiffusersAdapter(save_tiny_stable_diffusion(tempfile.mkdtemp()), guidance=3.0)
        >>> e = a.effective(Settings(steps=2)); e["steps"], e["guidance"], e["scheduler"]
        (2, 3.0, 'DDIMScheduler')
        """
        pipe = self._pipeline()
        params = inspect.signature(pipe.__call__).parameters

        def default(name: str):
            p = params.get(name)
            return None if p is None or p.default is inspect.Parameter.empty else p.default

        def first(*values):
            return next((v for v in values if v is not None), None)

        if "scheduler_name" in params:
            scheduler = first(settings.scheduler, default("scheduler_name"))
        else:
            chosen = _scheduler_classes()[settings.scheduler] if settings.scheduler else type(self._default_scheduler)
            scheduler = chosen.__name__
        return {"steps": first(settings.steps, self.steps, default("num_inference_steps")),
                "guidance": first(settings.guidance, self.guidance, default("guidance_scale")),
                "scheduler": scheduler,
                "thresholding": first(settings.thresholding, default("thresholding")),
                "negative_prompt": self.negative_prompt}

    def config(self) -> dict[str, Any]:
        """Return the adapter's recipe and the model folder's fingerprint (for ``spec.json``)."""
        import importlib.metadata as md

        return {
            "kind": self.kind, "path": self.path, "dtype": self.dtype, "device": self.device,
            "steps": self.steps, "guidance": self.guidance, "height": self.height, "width": self.width,
            "negative_prompt": self.negative_prompt,
            "allow_download": self.allow_download, "fingerprint": folder_fingerprint(self.path),
            "pipeline_class": None if self.pipeline_class is None else
            f"{self.pipeline_class.__module__}.{self.pipeline_class.__qualname__}",
            "diffusers": md.version("diffusers"),
        }
