"""Training checkpoints without pickle: tensors in safetensors, everything else as JSON in its header.

A checkpoint is any nest of dicts, lists, tuples, tensors, numbers, strings and ``None``
(model and optimizer ``state_dict()``, RNG states, counters, a config). :func:`save_checkpoint`
stores every tensor under a path-like name (``model/conv.weight``) and the rest of the structure
as JSON in the safetensors metadata, written atomically; :func:`load_checkpoint` rebuilds it.
Loading never runs code from the file (no ``torch.load``, no pickle). Dict keys keep their
type (optimizer states are keyed by int), tuples stay tuples.

torch is imported inside the functions, so importing this module stays cheap.

Examples
--------
>>> import tempfile, pathlib, torch
>>> p = pathlib.Path(tempfile.mkdtemp()) / "ckpt.safetensors"
>>> save_checkpoint(p, {"model": {"w": torch.ones(2)}, "opt": {"state": {0: {"step": torch.tensor(3.0)}},
...                     "param_groups": [{"betas": (0.9, 0.99), "params": [0]}]}, "step": 7})
>>> back = load_checkpoint(p)
>>> back["step"], back["opt"]["state"][0]["step"].item(), back["opt"]["param_groups"][0]["betas"]
(7, 3.0, (0.9, 0.99))
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from audit.files import atomic_write_bytes

__all__ = ["save_checkpoint", "load_checkpoint"]

_META_KEY = "imagen_audit_checkpoint"


def _encode(obj: Any, path: str, tensors: dict) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        name = path or "tensor"
        while name in tensors:  # e.g. keys 0 and "0" in one dict
            name += "'"
        tensors[name] = obj.detach().cpu().clone().contiguous()
        return {"__tensor__": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{path}/{k}" if path else k, tensors) for k, v in obj.items()}
        return {"__items__": [[_key(k), _encode(v, f"{path}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalars
        return _encode(obj.item(), path, tensors)
    raise TypeError(f"checkpoint field {path!r}: cannot store a {type(obj).__name__} without pickle")


def _key(k: Any) -> Any:
    if isinstance(k, (bool, int, float, str)) or k is None:
        return k
    raise TypeError(f"checkpoint key {k!r}: only str, int, float, bool or None keys can be stored")


def _decode(obj: Any, tensors: dict) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        return {k: _decode(v, tensors) for k, v in obj.items()}
    return obj


def save_checkpoint(path: str | Path, state: Any) -> None:
    """Write ``state`` to ``path`` as safetensors + JSON metadata, atomically.

    Parameters
    ----------
    path
        The checkpoint file (``.safetensors``).
    state
        Dicts, lists, tuples, tensors, numbers, strings, ``None``.

    Raises
    ------
    TypeError
        ``state`` holds something that cannot be stored without pickle.
    """
    from safetensors.torch import save

    tensors: dict = {}
    skeleton = _encode(state, "", tensors)
    atomic_write_bytes(Path(path), save(tensors, metadata={_META_KEY: json.dumps(skeleton)}))


def load_checkpoint(path: str | Path) -> Any:
    """Read a checkpoint written by :func:`save_checkpoint` (no code from the file runs).

    Raises
    ------
    ValueError
        The file is not such a checkpoint.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if _META_KEY not in meta:
            raise ValueError(f"{path}: not an imagen-audit checkpoint (no {_META_KEY} metadata)")
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return _decode(json.loads(meta[_META_KEY]), tensors)
