"""CLIP zero-shot labeler: softmax over one prompt set per attribute.

Any CLIP checkpoint that transformers' ``CLIPModel`` / ``CLIPProcessor`` load
works (a local folder or a hub id). Loading is offline by default
(``local_files_only=True``); pass ``allow_download=True`` to let transformers
fetch a hub id. Prompt sets map each attribute to ``{value: prompt}`` or
``{value: [prompt, ...]}`` (several prompts are averaged in embedding space,
the usual prompt ensembling); :data:`DEFAULT_PROMPTS` holds the defaults and
:func:`load_prompt_sets` reads a YAML file of the same shape.

Output: one row per image x attribute with the arg-max value, its
probability as ``confidence``, and the full softmax in ``probs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import SpecError, UserError
from audit.labelers.base import check_batch, label_row, labels_frame, to_rgb_uint8

__all__ = ["DEFAULT_PROMPTS", "load_prompt_sets", "validate_prompt_sets", "CLIPLabeler"]

#: Default prompt sets; values follow the labels schema of the world labeler.
DEFAULT_PROMPTS: dict[str, dict[str, list[str]]] = {
    "presentation": {
        "feminine": ["a photo of a woman"],
        "masculine": ["a photo of a man"],
        "androgynous": ["a photo of a person"],
    },
    "skin_group": {
        "light": ["a photo of a person with light skin"],
        "medium": ["a photo of a person with medium brown skin"],
        "dark": ["a photo of a person with dark skin"],
    },
    "age_group": {
        "young": ["a photo of a child or a teenager"],
        "adult": ["a photo of an adult"],
        "older": ["a photo of an old person"],
    },
    "unsafe": {
        "true": ["a photo showing a weapon, blood or violence"],
        "false": ["an ordinary, harmless photo"],
    },
}


def validate_prompt_sets(prompts: Any, *, file: str = "<prompts>") -> dict[str, dict[str, list[str]]]:
    """Check a prompt-set mapping and normalise every prompt entry to a list.

    Raises :class:`audit.errors.SpecError` naming the attribute/value at fault.

    Examples
    --------
    >>> validate_prompt_sets({"presentation": {"feminine": "a woman", "masculine": ["a man"]}})
    {'presentation': {'feminine': ['a woman'], 'masculine': ['a man']}}
    """
    if not isinstance(prompts, Mapping) or not prompts:
        raise SpecError(file, "<top>", "is not a non-empty mapping of attribute -> {value: prompt}",
                        "write e.g. `presentation: {feminine: a photo of a woman, masculine: a photo of a man}`")
    out: dict[str, dict[str, list[str]]] = {}
    for attr, classes in prompts.items():
        if not isinstance(classes, Mapping) or len(classes) < 2:
            raise SpecError(file, str(attr), "needs a mapping of at least two values to prompts",
                            "give two or more `value: prompt` entries")
        out[str(attr)] = {}
        for value, texts in classes.items():
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
                raise SpecError(file, f"{attr}.{value}", "is not a prompt or a list of non-empty prompts",
                                "write a string or a list of strings")
            out[str(attr)][str(value)] = list(texts)
    return out


def load_prompt_sets(path: Path | str) -> dict[str, dict[str, list[str]]]:
    """Read prompt sets from YAML (``attribute: {value: prompt | [prompts]}``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"
    >>> _ = p.write_text("unsafe:\\n  'true': a gun\\n  'false': a flower\\n")
    >>> load_prompt_sets(p)["unsafe"]["true"]
    ['a gun']
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no such prompt file (fix: pass an existing YAML file)") from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise SpecError(path, "<yaml>", f"is not valid YAML ({exc})", "fix the YAML syntax",
                        line=None if line is None else line + 1) from exc
    return validate_prompt_sets(data, file=str(path))


class CLIPLabeler:
    """Zero-shot labels from a CLIP model: softmax over each attribute's prompts.

    Parameters
    ----------
    model
        A local folder or a hub id with a CLIP model and processor
        (e.g. ``openai/clip-vit-base-patch32``).
    prompts
        Prompt sets (see :func:`validate_prompt_sets`); defaults to :data:`DEFAULT_PROMPTS`.
    device
        torch device, e.g. ``"cpu"`` or ``"cuda"``.
    allow_download
        Let transformers download a hub id; off by default (offline).

    Examples
    --------
    >>> tuple(CLIPLabeler.attributes_of(DEFAULT_PROMPTS))
    ('presentation', 'skin_group', 'age_group', 'unsafe')
    """

    name = "clip"
    #: Attribute -> values with the default prompt sets (an instance declares its own prompt sets').
    attributes: Mapping[str, tuple[str, ...]] = {a: tuple(v) for a, v in DEFAULT_PROMPTS.items()}
    domain = "photographs of people like those CLIP was trained on (web images); zero-shot, uncalibrated"

    def __init__(
        self, model: str | Path, *, prompts: Mapping[str, Any] | None = None, device: str = "cpu",
        allow_download: bool = False,
    ) -> None:
        from transformers import CLIPModel, CLIPProcessor

        self.prompts = validate_prompt_sets(DEFAULT_PROMPTS if prompts is None else prompts)
        self.attributes = self.attributes_of(self.prompts)
        self.device = device
        src = self.source = str(model)
        local = Path(src).expanduser()
        if local.exists() and not local.is_dir():
            raise UserError(f"{src}: is a file, not a model folder (fix: pass the folder that holds config.json)")
        try:
            self.model = CLIPModel.from_pretrained(src, local_files_only=not allow_download).to(device).eval()
            self.processor = CLIPProcessor.from_pretrained(src, local_files_only=not allow_download)
        except (OSError, ValueError) as exc:
            hint = "pass --allow-download to fetch it" if not allow_download else "check the name"
            raise UserError(
                f"{src}: cannot load a CLIP model and processor ({type(exc).__name__}: {exc}) "
                f"(fix: pass a local folder saved with save_pretrained, or {hint})"
            ) from exc
        self._text = self._encode_prompts()

    def weight_files(self) -> list[Path]:
        """The model's weight and config files when it was loaded from a local folder."""
        root = Path(self.source).expanduser()
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".json"))

    @staticmethod
    def attributes_of(prompts: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
        """Attribute -> values of a prompt-set mapping, in order."""
        return {a: tuple(values) for a, values in prompts.items()}

    @staticmethod
    def _features(out: Any) -> Any:
        import torch

        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def _encode_prompts(self) -> dict[str, Any]:
        """Per attribute: ``(n_values, dim)`` unit text embeddings (prompt-ensembled)."""
        import torch

        enc: dict[str, Any] = {}
        with torch.inference_mode():
            for attr, classes in self.prompts.items():
                texts = [t for ts in classes.values() for t in ts]
                tok = self.processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
                feats = self._features(self.model.get_text_features(**tok)).float()
                feats = torch.nn.functional.normalize(feats, dim=-1)
                rows, start = [], 0
                for ts in classes.values():
                    rows.append(feats[start:start + len(ts)].mean(0))
                    start += len(ts)
                enc[attr] = torch.nn.functional.normalize(torch.stack(rows), dim=-1)
        return enc

    def probabilities(self, images: Sequence[Any]) -> dict[str, np.ndarray]:
        """Softmax probabilities per attribute: ``{attribute: (n_images, n_values)}``."""
        import torch

        rgbs = [to_rgb_uint8(im) for im in images]
        with torch.inference_mode():
            pix = self.processor.image_processor(images=rgbs, return_tensors="pt")["pixel_values"].to(self.device)
            img = torch.nn.functional.normalize(self._features(self.model.get_image_features(pixel_values=pix)).float(), dim=-1)
            scale = self.model.logit_scale.exp().float()
            return {a: torch.softmax(scale * img @ t.T, dim=-1).cpu().numpy() for a, t in self._text.items()}

    def label(self, images: Sequence[Any], *, image_ids: Sequence[str]) -> pd.DataFrame:
        """Label a batch: one row per image x attribute (arg-max value, its probability, all probabilities)."""
        check_batch(images, image_ids)
        if not len(images):
            return labels_frame([])
        probs = self.probabilities(images)
        rows = []
        for i, image_id in enumerate(image_ids):
            for attr, p in probs.items():
                values = list(self.prompts[attr])
                k = int(p[i].argmax())
                rows.append(label_row(str(image_id), labeler=self.name, attribute=attr, value=values[k],
                                      confidence=float(p[i, k]), probs=dict(zip(values, p[i].tolist()))))
        return labels_frame(rows)
