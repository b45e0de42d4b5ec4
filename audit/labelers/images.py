"""The one image path: sources -> decode -> batches -> labels, shared by ``imagen-audit label``,
the dataset audit and the probe worker.

Bad images never crash a run: a zero-byte, corrupt, truncated, oversized
(decompression bomb) or unconvertible image yields ``None`` and a reason, and
:class:`SkipSummary` counts the reasons. Odd modes (CMYK, I;16, P, LA, ...)
are converted to RGB, not skipped. :func:`label_items` is the one label loop:
every item read is either labelled or gets explicit ``unreadable`` rows with its
reason (read = labelled + skipped by reason). Outputs are written with the atomic
writers of :mod:`audit.files`.

Sources for ``imagen-audit label SOURCE`` (see :func:`iter_source`):

- a probe run directory or a ``generate`` folder (``manifest.parquet`` with ``image_id``
  and ``path``; a ``generate`` manifest's ``file`` column is read as the path),
- webdataset shards (a ``.tar`` file or a folder of ``*.tar``), read through
  :func:`audit.shards.iter_tar_samples`,
- an image folder, searched recursively (ids are the relative paths),
- a single image file.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import UserError
from audit.labelers.base import labels_frame, to_rgb_uint8, unreadable_rows
from audit.schema import LABEL_COLUMNS

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "SkipSummary",
    "SourceItem",
    "decode_image",
    "iter_source",
    "batched",
    "label_items",
    "LabelCounts",
]

#: Images with more pixels than this are refused as decompression bombs.
DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
_SHARD_IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")


@dataclass
class SkipSummary:
    """Counts of skipped images (and archive-level problems) by reason, with a few examples.

    Examples
    --------
    >>> s = SkipSummary()
    >>> s.skip("zero_bytes", "a.png")
    >>> s.total, s.counts
    (1, {'zero_bytes': 1})
    """

    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def skip(self, reason: str, detail: str = "", *, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n
        if detail and len(self.examples) < 50:
            self.examples.append(f"{reason}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"skipped_total": self.total, "skipped_by_reason": dict(sorted(self.counts.items())),
                "examples": list(self.examples)}


@dataclass
class SourceItem:
    """One image of a source: its id, its encoded bytes (None if unreadable) and why not.

    ``image`` holds an already decoded image (PIL or array; the probe worker's generated
    images), which is then labelled without decoding ``data``; ``caption`` the sample's
    caption when the source has one.
    """

    image_id: str
    data: bytes | None
    reason: str | None = None
    origin: str = ""
    image: Any = None
    caption: str | None = None


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """Decode encoded image bytes to an ``(H, W, 3)`` uint8 RGB array.

    Parameters
    ----------
    data
        The encoded file (PNG, JPEG, WebP, TIFF, ...).
    max_pixels
        Refuse images larger than this (decompression bombs) before decoding.

    Returns
    -------
    (array, None) on success, or (None, reason) with reason one of
    ``zero_bytes``, ``not_an_image``, ``decompression_bomb``, ``truncated``,
    ``corrupt``, ``unsupported_mode``.

    Examples
    --------
    >>> decode_image(b"")
    (None, 'zero_bytes')
    >>> decode_image(b"not an image")
    (None, 'not_an_image')
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        return None, "zero_bytes"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return None, "not_an_image"
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return None, "decompression_bomb"
        except Exception:  # noqa: BLE001 - any parser failure is a corrupt file
            return None, "corrupt"
        w, h = im.size
        if w * h > max_pixels:
            return None, "decompression_bomb"
        if w == 0 or h == 0:
            return None, "corrupt"
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return None, "decompression_bomb"
        except OSError as exc:
            return None, "truncated" if "truncat" in str(exc).lower() else "corrupt"
        except Exception:  # noqa: BLE001
            return None, "corrupt"
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 - a broken EXIF block does not spoil the pixels
        pass
    try:
        return to_rgb_uint8(im), None
    except (UserError, ValueError, OSError):
        return None, "unsupported_mode"


def batched(items: Iterable, n: int) -> Iterator[list]:
    """Yield lists of ``n`` items (the last may be shorter).

    Examples
    --------
    >>> list(batched(range(5), 2))
    [[0, 1], [2, 3], [4]]
    """
    if n < 1:
        raise UserError(f"batch size {n} must be >= 1 (fix: pass --batch-size 1 or more)")
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------

def _read(path: Path) -> tuple[bytes | None, str | None]:
    try:
        return path.read_bytes(), None
    except FileNotFoundError:
        return None, "missing_file"
    except OSError:
        return None, "read_error"


def _folder_items(root: Path, files: list[Path]) -> Iterator[SourceItem]:
    for f in files:
        data, reason = _read(f)
        yield SourceItem(f.relative_to(root).as_posix(), data, reason, str(f))


def _run_items(run_dir: Path) -> tuple[int, Iterator[SourceItem]]:
    import pandas as pd

    manifest = run_dir / "manifest.parquet"
    try:
        df = pd.read_parquet(manifest, columns=None)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{manifest}: cannot read the manifest ({exc}) (fix: re-run the probe run)") from exc
    if "path" not in df.columns and "file" in df.columns:  # an `imagen-audit generate` folder
        df = df.assign(path=df["file"])
    if "image_id" not in df.columns and "path" in df.columns:
        df = df.assign(image_id=df["path"].astype(str))
    for col in ("image_id", "path"):
        if col not in df.columns:
            raise UserError(
                f"{manifest}: field {col} is missing (fix: a manifest needs a path (or file) column naming each "
                "image relative to its folder)"
            )
    root = run_dir.resolve()

    def gen() -> Iterator[SourceItem]:
        for image_id, rel in zip(df["image_id"].astype(str), df["path"]):
            if not isinstance(rel, str) or not rel:
                yield SourceItem(image_id, None, "missing_path", str(manifest))
                continue
            p = (run_dir / rel).resolve()
            if root not in p.parents:
                yield SourceItem(image_id, None, "unsafe_path", rel)
                continue
            data, reason = _read(p)
            yield SourceItem(image_id, data, reason, str(p))

    return len(df), gen()


def _shard_items(tars: list[Path], summary: SkipSummary) -> Iterator[SourceItem]:
    from audit.tarread import ReadStats, iter_tar_samples

    for tar in tars:
        stats = ReadStats()
        for sample in iter_tar_samples(tar, stats=stats):
            ext = next((e for e in _SHARD_IMAGE_EXTS if e in sample.files), None)
            if ext is None:
                yield SourceItem(sample.key, None, "no_image_member", f"{tar}:{sample.key}")
            else:
                yield SourceItem(sample.key, sample.files[ext], None, f"{tar}:{sample.key}.{ext}")
        for reason, n in stats.skipped.items():
            summary.skip(f"shard_{reason}", str(tar), n=n)


def iter_source(source: Path | str, *, summary: SkipSummary) -> tuple[int | None, Iterator[SourceItem]]:
    """Open an image source; returns (number of items if known, iterator of items).

    Parameters
    ----------
    source
        A run directory (has ``manifest.parquet``), a ``.tar`` shard or a folder
        of shards, an image folder (recursive) or one image file.
    summary
        Archive-level problems (corrupt tar, unsafe member names) are counted here.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.png").write_bytes(b"")
    0
    >>> n, items = iter_source(d, summary=SkipSummary())
    >>> n, [(i.image_id, i.data) for i in items]
    (1, [('a.png', b'')])
    """
    path = Path(source)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder (fix: pass an image folder, shards or a run directory)")
    if path.is_file():
        if path.suffix.lower() == ".tar":
            return None, _shard_items([path], summary)
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return 1, _folder_items(path.parent, [path])
        raise UserError(
            f"{path}: not an image, a .tar shard or a folder (fix: pass an image folder, shards or a run directory)"
        )
    if (path / "manifest.parquet").is_file():
        return _run_items(path)
    tars = sorted(p for p in path.glob("*.tar") if p.is_file())
    if tars:
        return None, _shard_items(tars, summary)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UserError(
            f"{path}: no images found (fix: pass a folder with {', '.join(IMAGE_EXTENSIONS)} files, "
            "a folder of .tar shards or a run directory with manifest.parquet)"
        )
    return len(files), _folder_items(path, files)


# ---------------------------------------------------------------------------
# the label loop
# ---------------------------------------------------------------------------

@dataclass
class LabelCounts:
    """How many items the loop read and how many it labelled (the rest are in the skip summary)."""

    read: int = 0
    labelled: int = 0


def _check_frame(frame, labeler: Any) -> None:
    missing = [c for c in LABEL_COLUMNS[:5] if c not in frame.columns]
    if missing:
        raise RuntimeError(f"labeler {getattr(labeler, 'name', labeler)!r} returned no {missing} columns")


def label_items(items: Iterable[SourceItem], labelers: Sequence[Any], *, summary: SkipSummary,
                batch_size: int = 64, max_pixels: int = DEFAULT_MAX_PIXELS,
                on_batch: Callable[[list[SourceItem], list[SourceItem]], None] | None = None):
    """Decode, batch and label items with every labeler: the one label loop.

    Each item is decoded (or taken as is when it carries ``image``); an undecodable one is
    counted in ``summary`` by reason and gets one ``unreadable`` row per attribute of each
    labeler, with the reason. Each distinct ``image_id`` is labelled once per batch.

    Parameters
    ----------
    items
        From :func:`iter_source`, or built by the caller.
    labelers
        Objects following :class:`audit.labelers.base.Labeler`.
    summary
        Receives the skip reasons.
    batch_size
        Images per labeler call.
    max_pixels
        Refuse larger images (decompression bombs).
    on_batch
        Called after each batch with ``(items read, items labelled)``.

    Returns
    -------
    (pandas.DataFrame, LabelCounts)
        The labels table (:data:`audit.schema.LABEL_COLUMNS`) and the counts.

    Examples
    --------
    >>> from audit.labelers.ita import ITALabeler
    >>> items = [SourceItem("a", None, image=np.full((8, 8, 3), 128, np.uint8)), SourceItem("b", b"")]
    >>> s = SkipSummary()
    >>> df, n = label_items(items, [ITALabeler(faces=False)], summary=s)
    >>> (n.read, n.labelled, s.counts), sorted(set(df[df.image_id == "b"].value))
    ((2, 1, {'zero_bytes': 1}), ['unreadable'])
    """
    import pandas as pd

    frames: list = []
    counts = LabelCounts()
    for batch in batched(items, batch_size):
        images, ids, good, bad = [], [], [], []
        for item in batch:
            if item.image is not None:
                img, reason = item.image, None
            elif item.data is None:
                img, reason = None, item.reason or "unreadable"
            else:
                img, reason = decode_image(item.data, max_pixels=max_pixels)
            if reason is not None:
                summary.skip(reason, item.origin or item.image_id)
                for labeler in labelers:
                    bad += unreadable_rows(item.image_id, labeler=labeler.name, attributes=tuple(labeler.attributes),
                                           reason=reason)
                continue
            good.append(item)
            if item.image_id not in ids:  # label each distinct image once
                images.append(img)
                ids.append(item.image_id)
        if images:
            for labeler in labelers:
                frame = labeler.label(images, image_ids=ids)
                _check_frame(frame, labeler)
                frames.append(frame)
        if bad:
            frames.append(labels_frame(bad))
        counts.read += len(batch)
        counts.labelled += len(good)
        if on_batch is not None:
            on_batch(batch, good)
    labels = pd.concat(frames, ignore_index=True) if frames else labels_frame([])
    return labels, counts
