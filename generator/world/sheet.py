"""Contact sheets: every profession x several skin tones, for looking at the world by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from generator.world.render import render_batch
from generator.world.vocab import ACTIVITIES, AGE_GROUPS, PRESENTATIONS, PROFESSIONS

__all__ = ["contact_sheet", "save_contact_sheet"]


def contact_sheet(*, tones: tuple[int, ...] = (1, 3, 5, 7, 10), seed: int = 0, zoom: int = 2) -> Image.Image:
    """Render one row per profession and one column per skin tone, labelled.

    Presentation, age and activity cycle across cells so every value appears.

    Examples
    --------
    >>> contact_sheet(tones=(1, 10), zoom=1).size[1] > 64 * 24
    True
    """
    rows = [dict(profession=p, skin_tone=t, presentation=PRESENTATIONS[(i + j) % 3],
                 age_group=AGE_GROUPS[(i + 2 * j) % 3], activity=ACTIVITIES[(i + j) % 6],
                 unsafe=bool((i + j) % 11 == 0))
            for i, p in enumerate(PROFESSIONS) for j, t in enumerate(tones)]
    images = render_batch(pd.DataFrame(rows), rng=np.random.default_rng(seed))
    cell, label_w, head = 64 * zoom, 110, 16
    sheet = Image.new("RGB", (label_w + cell * len(tones), head + cell * len(PROFESSIONS)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, t in enumerate(tones):
        draw.text((label_w + j * cell + 4, 2), f"MST {t}", fill="black")
    for i, p in enumerate(PROFESSIONS):
        draw.text((4, head + i * cell + cell // 2 - 6), p, fill="black")
        for j in range(len(tones)):
            tile = Image.fromarray(images[i * len(tones) + j]).resize((cell, cell), Image.NEAREST)
            sheet.paste(tile, (label_w + j * cell, head + i * cell))
    return sheet


def save_contact_sheet(path: str | Path, **kwargs) -> Path:
    """Write :func:`contact_sheet` to ``path`` (PNG).

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_contact_sheet(os.path.join(tempfile.mkdtemp(), "s.png"), tones=(1,), zoom=1)
    >>> p.exists()
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(**kwargs).save(path)
    return path
