"""``images:MANIFEST``: audit images made elsewhere, listed in a CSV or parquet table.

Columns (one row per image):

``image`` (or ``path`` / ``file``)
    Image file, relative to the table's folder or absolute.
``prompt``
    The prompt it was drawn from. Instead of ``prompt`` the table may name the suite's slot
    values (``profession``, ``skin_tone``... and ``template_id`` when the suite has several
    templates); they are turned into the suite's prompt.
``seed``, ``model`` (optional)
    Recorded with the image (the seed is the one the other tool used; it is not the suite's).
``sample`` (optional)
    Order of a prompt's images (default: the table's row order).
``filtered``, ``filter_reason`` (optional)
    The other tool's safety filter verdict (an empty ``image`` is allowed when filtered).

When a run starts, the table is matched to the suite's expansion: the k-th image of a
prompt is its k-th sample. Suite prompts without enough images stop the run with a list
of them; table rows the suite does not ask for (other prompts, surplus samples) are
counted and listed in ``RUN_DIR/images_match.json``: rows read = used + extra prompt +
surplus sample.

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Image.new("RGB", (8, 8), (9, 9, 9)).save(d / "a.png")
>>> _ = (d / "m.csv").write_text("prompt,image,model\\na nurse,a.png,other-model\\n")
>>> a = ImagesAdapter(d / "m.csv")
>>> from generator.adapters.base import Settings
>>> a.generate(["a nurse"], seeds=[123], settings=Settings())[0].getpixel((0, 0))
(9, 9, 9)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import UserError
from audit.files import atomic_write_bytes, read_run_spec
from generator.adapters.base import Settings, mark, placeholder

__all__ = ["ImagesAdapter", "read_manifest", "match_manifest"]

_IMAGE_COLUMNS = ("image", "path", "file")


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and check the table; returns columns ``image`` (absolute path or None), ``prompt`` (may be
    None when slot columns are given), ``row`` (0-based row number) and the optional columns.

    Raises
    ------
    audit.errors.UserError
        Naming the file, the column and the fix.

    Examples
    --------
    >>> read_manifest("/nonexistent.csv")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: images:/nonexistent.csv: file not found (fix: give a CSV or parquet table of images)
    """
    path = Path(path)
    label = f"images:{path}"
    if not path.is_file():
        raise UserError(f"{label}: file not found (fix: give a CSV or parquet table of images)")
    try:
        table = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(
            path, dtype={"prompt": str, "image": str, "path": str, "file": str, "model": str, "filter_reason": str},
            keep_default_na=False, na_values=[""])
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types
        raise UserError(f"{label}: cannot read the table ({type(exc).__name__}: {str(exc)[:200]}) "
                        "(fix: write a CSV with a header row, or a parquet file)") from None
    image_col = next((c for c in _IMAGE_COLUMNS if c in table.columns), None)
    if image_col is None:
        raise UserError(f"{label}: no image column (fix: add a column `image` with each image's file path)")
    out = table.rename(columns={image_col: "image"}).copy()
    out["row"] = range(len(out))
    if "filtered" in out.columns:
        out["filtered"] = out["filtered"].map(lambda v: str(v).strip().lower() in ("1", "true", "yes")).astype(bool)
    else:
        out["filtered"] = False
    bad = out[out["image"].isna() & ~out["filtered"]]
    if len(bad):
        raise UserError(f"{label}: row {int(bad.row.iloc[0]) + 2}: column `image` is empty (fix: give the image "
                        "file, or mark the row filtered=true when the other tool withheld the image)")
    folder = path.parent.resolve()
    out["image"] = pd.Series([None if pd.isna(v) else str((folder / str(v)).resolve()) for v in out["image"]],
                             index=out.index, dtype=object)
    missing = [v for v in out["image"] if isinstance(v, str) and not Path(v).is_file()]
    if missing:
        raise UserError(f"{label}: {len(missing)} image files not found, e.g. {missing[0]} "
                        "(fix: paths are relative to the table's folder; correct them or remove those rows)")
    if "prompt" not in out.columns:
        out["prompt"] = None
    return out


def _prompts_from_slots(table: pd.DataFrame, prompts: pd.DataFrame, columns: tuple[str, ...], *, label: str):
    """Fill ``prompt`` from slot values (and ``template_id``) where it is missing."""
    need = table["prompt"].isna()
    if not need.any():
        return table
    keys = [c for c in ("template_id", *columns) if c in table.columns]
    if not keys:
        raise UserError(f"{label}: rows without `prompt` and no slot columns (fix: add `prompt`, or the suite's "
                        f"slot columns {list(columns)})")
    filled = []
    for _, row in table[need].iterrows():
        hit = prompts
        for k in keys:
            value = row[k]
            hit = hit[hit[k].isna()] if pd.isna(value) else hit[hit[k] == value]
        if len(hit) != 1:
            what = "no" if hit.empty else f"{len(hit)}"
            raise UserError(f"{label}: row {int(row.row) + 2}: {what} suite prompts match "
                            f"{ {k: row[k] for k in keys} } (fix: add `template_id` or `prompt`, or correct the "
                            "slot values)")
        filled.append(hit.prompt.iloc[0])
    table = table.copy()
    table.loc[need, "prompt"] = filled
    return table


def match_manifest(table: pd.DataFrame, samples: pd.DataFrame) -> tuple[dict[tuple[str, int], int], dict]:
    """Match the table's rows to a suite's sample rows: the k-th image of a prompt is its k-th sample.

    Parameters
    ----------
    table
        From :func:`read_manifest` (with ``prompt`` filled).
    samples
        From :func:`probes.expand.expand_samples` (``prompt``, ``sample``, ``seed``).

    Returns
    -------
    mapping, report
        ``(prompt, suite seed) -> table row``; and the counts: ``rows``, ``used``,
        ``extra_prompt_rows``, ``surplus_rows``, ``missing`` (prompt -> images lacking), ``extra_prompts``.

    Examples
    --------
    >>> t = pd.DataFrame({"prompt": ["a", "a", "a", "z"], "row": [0, 1, 2, 3]})
    >>> s = pd.DataFrame({"prompt": ["a", "a", "b"], "sample": [0, 1, 0], "seed": [5, 6, 7]})
    >>> m, r = match_manifest(t, s)
    >>> m, r["used"], r["surplus_rows"], r["extra_prompt_rows"], r["missing"], r["extra_prompts"]
    ({('a', 5): 0, ('a', 6): 1}, 2, 1, 1, {'b': 1}, ['z'])
    """
    order = ["prompt", "sample", "row"] if "sample" in table.columns else ["prompt", "row"]
    groups = {p: list(g.sort_values(order[1:]).row) for p, g in table.groupby("prompt", sort=False)}
    mapping, missing = {}, {}
    for prompt, block in samples.sort_values(["sample"]).groupby("prompt", sort=False):
        rows = groups.get(prompt, [])
        for k, seed in enumerate(block.seed):
            if k < len(rows):
                mapping[(prompt, int(seed))] = rows[k]
        if len(rows) < len(block):
            missing[prompt] = len(block) - len(rows)
    wanted = set(samples.prompt)
    extra = sorted(p for p in groups if p not in wanted)
    extra_rows = sum(len(groups[p]) for p in extra)
    report = {"rows": len(table), "used": len(mapping), "extra_prompt_rows": extra_rows,
              "surplus_rows": len(table) - len(mapping) - extra_rows, "missing": missing, "extra_prompts": extra}
    return mapping, report


class ImagesAdapter:
    """Images made elsewhere, served through the generator protocol.

    Parameters
    ----------
    manifest
        CSV or parquet table (see the module docstring).
    """

    kind = "images"

    def __init__(self, manifest: str | Path) -> None:
        self.manifest = str(Path(manifest).resolve())
        self.label = f"images:{manifest}"
        self.table = read_manifest(manifest)
        self._mapping: dict[tuple[str, int], int] | None = None
        self._seen: dict[str, list[int]] = {}

    def bind_run(self, run_dir: str | Path) -> None:
        """Match the table to the run's suite (from ``spec.json``); write ``images_match.json``.

        Raises
        ------
        audit.errors.UserError
            When suite prompts lack images (listing them).
        """
        if self._mapping is not None:
            return
        from probes.expand import expand_prompts, expand_samples  # the suite comes from the run, not the adapter
        from probes.suite import parse_suite

        spec = read_run_spec(run_dir)
        suite = parse_suite(spec["suite"]["definition"], file=spec.get("suite_file") or "<spec.json>")
        self.table = _prompts_from_slots(self.table, expand_prompts(suite), suite.columns, label=self.label)
        samples = expand_samples(suite, samples=spec["samples"], seed=spec["seed"])
        mapping, report = match_manifest(self.table, samples)
        atomic_write_bytes(Path(run_dir) / "images_match.json",
                           json.dumps({"manifest": self.manifest, **report}, indent=2, sort_keys=True).encode())
        if report["missing"]:
            short = sorted(report["missing"].items())
            listed = "; ".join(f"{p!r} lacks {n}" for p, n in short[:5])
            raise UserError(f"{self.label}: {len(short)} suite prompts lack images ({listed}"
                            f"{'; ...' if len(short) > 5 else ''}; all in {Path(run_dir) / 'images_match.json'}) "
                            f"(fix: add rows for them, or lower --samples; then use a new --out)")
        self._mapping = mapping

    def _row(self, prompt: str, seed: int) -> pd.Series:
        if self._mapping is not None:
            row = self._mapping.get((prompt, seed))
            if row is None:
                raise UserError(f"{self.label}: no image for prompt {prompt!r} seed {seed} (fix: run the suite the "
                                "table was matched to)")
            return self.table.iloc[row]
        seen = self._seen.setdefault(prompt, [])  # no run: the k-th distinct seed asked for gets the k-th image
        if seed not in seen:
            seen.append(seed)
        rows = self.table[self.table.prompt == prompt]
        if "sample" in rows.columns:
            rows = rows.sort_values(["sample", "row"])
        k = seen.index(seed)
        if k >= len(rows):
            raise UserError(f"{self.label}: prompt {prompt!r} has {len(rows)} images, asked for image {k + 1} "
                            "(fix: add rows for it, or ask for fewer samples)")
        return rows.iloc[k]

    def generate(self, prompts: list[str], *, seeds: list[int], settings: Settings) -> list:
        """Return the listed image of each (prompt, seed), marked (``filtered``, ``seed_sent=False``)."""
        from PIL import Image

        if len(prompts) != len(seeds):
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        for name, value in settings.to_dict().items():
            if value is not None:
                raise UserError(f"{self.label}: images made elsewhere have no {name} to sweep (fix: drop --sweep)")
        images = []
        for prompt, seed in zip(prompts, seeds):
            row = self._row(prompt, int(seed))
            reason = row.get("filter_reason") if bool(row["filtered"]) else None
            reason = None if reason is None or pd.isna(reason) else str(reason)
            if not isinstance(row["image"], str):
                im = placeholder((64, 64), reason=reason or "filtered", seed_sent=False)
            else:
                with Image.open(row["image"]) as src:
                    im = mark(src.convert("RGB"), filtered=bool(row["filtered"]), reason=reason or "filtered",
                              seed_sent=False)
            for extra in ("model", "seed"):
                if extra in row.index and not pd.isna(row[extra]):
                    im.info[f"source_{extra}"] = row[extra].item() if hasattr(row[extra], "item") else row[extra]
            images.append(im)
        return images

    def config(self) -> dict[str, Any]:
        """The table's path and sha256, its row count and the model names it lists."""
        digest = hashlib.sha256(Path(self.manifest).read_bytes()).hexdigest()
        models = sorted({str(m) for m in self.table["model"].dropna()}) if "model" in self.table.columns else []
        return {"kind": self.kind, "manifest": self.manifest, "fingerprint": digest, "rows": len(self.table),
                "models": models, "seed_sent": False}
