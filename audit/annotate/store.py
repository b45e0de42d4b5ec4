"""The annotation sample and file of one annotator (``RUN_DIR/annotations/<annotator>.json``).

The file holds the sample (so a restart resumes the same images in the same
order), the answers and their history (for undo). It is rewritten atomically
(temporary sibling, fsync, rename) after every answer, so a killed server
loses nothing that was acknowledged and never leaves a half-written file.

Examples
--------
>>> import pandas as pd
>>> labels = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "labeler": "world", "attribute": "presentation",
...                        "value": ["feminine", "masculine", "feminine", "feminine"]})
>>> manifest = pd.DataFrame({"image_id": list("abcd"), "path": "x", "prompt": "p", "profession": ["nurse"] * 4})
>>> items = stratified_sample(manifest, labels, labeler="world", attribute="presentation",
...                           concept="profession", n=2, seed=0)
>>> sorted(i["labeler_value"] for i in items)  # the rare answer is in the sample
['feminine', 'masculine']
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.schema import NON_ANSWER_VALUES

__all__ = ["CANT_TELL", "stratified_sample", "AnnotationFile", "choices_for", "load_run_tables"]

CANT_TELL = "cant_tell"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NON_ANSWERS = set(NON_ANSWER_VALUES)


def load_run_tables(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``manifest.parquet`` and ``labels.parquet`` of a run (or a labelled dataset folder)."""
    run_dir = Path(run_dir)
    out = []
    for name in ("manifest.parquet", "labels.parquet"):
        path = run_dir / name
        if not path.is_file():
            raise UserError(f"{path}: missing (fix: pass a finished run directory, e.g. from `imagen-audit probe run`)")
        out.append(pd.read_parquet(path))
    return out[0], out[1]


def choices_for(labels: pd.DataFrame, *, labeler: str, attribute: str) -> list[str]:
    """The answer choices of an attribute: the labeler's declared classes if it has ``probs``, else its values."""
    sel = labels[(labels.labeler == labeler) & (labels.attribute == attribute)]
    if sel.empty:
        have = sorted(set(zip(labels.labeler, labels.attribute)))
        raise UserError(f"labels.parquet: no rows for labeler {labeler!r} attribute {attribute!r} "
                        f"(fix: pick one of {have})")
    values: set[str] = set()
    for p in sel["probs"].dropna().head(50) if "probs" in sel else []:
        values.update(json.loads(p))
    values.update(v for v in sel.value.astype(str) if v not in _NON_ANSWERS)
    return sorted(values)


def stratified_sample(manifest: pd.DataFrame, labels: pd.DataFrame, *, labeler: str, attribute: str,
                      concept: str | None, n: int, seed: int) -> list[dict[str, Any]]:
    """Up to ``n`` images, taken round-robin from every (concept value x labeler answer) stratum.

    Each stratum is shuffled with ``seed``; strata take turns, so rare answers
    (and non-answers) are represented. Items carry the image id, its path, the
    prompt, the concept value and the labeler's answer.
    """
    sel = labels[(labels.labeler == labeler) & (labels.attribute == attribute)][["image_id", "value"]]
    df = sel.merge(manifest, on="image_id", how="inner")
    if concept is not None and concept not in df:
        raise UserError(f"manifest.parquet: no column {concept!r} (fix: --concept one of {sorted(manifest.columns)})")
    df["_concept"] = df[concept].astype(str) if concept else ""
    rng = np.random.default_rng(seed)
    strata = [g.iloc[rng.permutation(len(g))] for _, g in df.groupby(["_concept", "value"], sort=True)]
    picked, k = [], 0
    while len(picked) < n and any(k < len(g) for g in strata):
        picked += [g.iloc[k] for g in strata if k < len(g)]
        k += 1
    items = [{"image_id": str(r.image_id), "path": str(r.path), "prompt": str(r.get("prompt", "")),
              "concept": str(r._concept), "labeler_value": str(r.value)} for r in picked[:n]]
    order = rng.permutation(len(items))  # interleave strata so the annotator does not see runs of one answer
    return [items[i] for i in order]


class AnnotationFile:
    """One annotator's sample and answers, saved atomically after every change (thread-safe).

    Parameters
    ----------
    path
        The JSON file.
    meta
        Written on creation: annotator, labeler, attribute, concept, choices, items.
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data, self._lock = path, data, threading.Lock()

    @classmethod
    def open_or_create(cls, path: str | Path, *, create: dict[str, Any]) -> AnnotationFile:
        """Resume ``path`` if it exists (its sample wins), else create it with ``create``."""
        path = Path(path)
        if not _NAME.match(path.stem):
            raise UserError(f"annotator name {path.stem!r} (fix: letters, digits, '.', '_' or '-', at most 64)")
        if path.exists():
            try:
                data = json.loads(path.read_text())
                data["items"], data["answers"], data["history"]  # noqa: B018 - shape check
            except (ValueError, KeyError) as exc:
                raise UserError(f"{path}: not an annotation file ({exc}) (fix: move it away or pick another "
                                "--annotator)") from exc
            for key in ("labeler", "attribute"):
                if data.get(key) != create.get(key):
                    raise UserError(f"{path}: annotates {key} {data.get(key)!r}, not {create.get(key)!r} (fix: pick "
                                    "another --annotator or the same options)")
            return cls(path, data)
        f = cls(path, {**create, "version": 1, "answers": {}, "history": []})
        f._save()
        return f

    def _save(self) -> None:
        from audit.files import atomic_write_bytes

        atomic_write_bytes(self.path, json.dumps(self.data, indent=1).encode())

    def answer(self, index: int, value: str) -> None:
        """Record the answer to item ``index`` (one of the choices or ``cant_tell``) and save."""
        items = self.data["items"]
        if not 0 <= index < len(items):
            raise UserError(f"item {index} is outside the sample of {len(items)} (fix: reload the page)")
        if value not in (*self.data["choices"], CANT_TELL):
            raise UserError(f"answer {value!r} is not one of {self.data['choices'] + [CANT_TELL]}")
        with self._lock:
            image_id = items[index]["image_id"]
            self.data["answers"][image_id] = {"value": value, "t": round(time.time(), 3)}
            self.data["history"].append(image_id)
            self._save()

    def undo(self) -> str | None:
        """Remove the latest answer; returns its image id (None if there was none)."""
        with self._lock:
            while self.data["history"]:
                image_id = self.data["history"].pop()
                if image_id in self.data["answers"]:
                    del self.data["answers"][image_id]
                    self._save()
                    return image_id
            return None

    def state(self) -> dict[str, Any]:
        """What the page needs: choices, items (without paths), answers, next unanswered index."""
        items = self.data["items"]
        answers = self.data["answers"]
        nxt = next((i for i, it in enumerate(items) if it["image_id"] not in answers), len(items))
        return {"annotator": self.data["annotator"], "labeler": self.data["labeler"],
                "attribute": self.data["attribute"], "choices": self.data["choices"],
                "items": [{"index": i, "prompt": it["prompt"], "concept": it["concept"]} for i, it in enumerate(items)],
                "answers": {str(i): answers[it["image_id"]]["value"] for i, it in enumerate(items)
                            if it["image_id"] in answers},
                "next": nxt, "done": len(answers), "total": len(items)}
