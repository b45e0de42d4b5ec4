"""Split a run into shards: groups of whole prompts, one sampler setting each.

The plan depends only on the suite, the samples, the seed, the settings and
the shard size, never on the number of workers, so a local run, a Dask run
and a resumed run generate exactly the same batches.

Examples
--------
>>> from probes.suite import load_builtin
>>> from probes.expand import expand_samples
>>> from generator.adapters.base import Settings
>>> rows = expand_samples(load_builtin("activities"), samples=4)
>>> shards = plan_shards(rows, settings=[Settings()], shard_images=16)
>>> len(shards), shards[0].id, len(shards[0].rows)
(5, 's0-0000', 16)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from generator.adapters.base import Settings

__all__ = ["Shard", "plan_shards"]


@dataclass(frozen=True)
class Shard:
    """One unit of work: sample rows (whole prompts) drawn with one setting."""

    id: str
    setting: Settings
    rows: pd.DataFrame

    @property
    def n_images(self) -> int:
        """Number of images the shard draws."""
        return len(self.rows)


def plan_shards(samples: pd.DataFrame, *, settings: list[Settings], shard_images: int = 64) -> list[Shard]:
    """Cut sample rows into shards of about ``shard_images`` images, never splitting a prompt.

    Parameters
    ----------
    samples
        Rows from :func:`probes.expand.expand_samples` (all samples of a prompt are adjacent).
    settings
        Sampler settings; each gets its own set of shards (``s0-...``, ``s1-...``).
    shard_images
        Target images per shard (a prompt with more samples makes a shard of its own).

    Returns
    -------
    list of Shard
        In a fixed order: settings, then prompts.

    Examples
    --------
    >>> rows = pd.DataFrame({"prompt_id": ["a", "a", "b", "b"], "sample": [0, 1, 0, 1]})
    >>> [s.id for s in plan_shards(rows, settings=[Settings(), Settings(steps=2)], shard_images=2)]
    ['s0-0000', 's0-0001', 's1-0000', 's1-0001']
    """
    if shard_images < 1:
        raise ValueError(f"shard_images must be >= 1, got {shard_images}")
    groups, current, size = [], [], 0
    for _, block in samples.groupby("prompt_id", sort=False):
        if current and size + len(block) > shard_images:
            groups.append(current)
            current, size = [], 0
        current.append(block)
        size += len(block)
    if current:
        groups.append(current)
    shards = []
    for s_index, setting in enumerate(settings):
        for g_index, blocks in enumerate(groups):
            rows = pd.concat(blocks).reset_index(drop=True).assign(setting=setting.label)
            shards.append(Shard(id=f"s{s_index}-{g_index:04d}", setting=setting, rows=rows))
    return shards
