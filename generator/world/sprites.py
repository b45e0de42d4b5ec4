"""Sprite sheets of the world: every drawable part, drawn once with PIL on a 128 px canvas.

The renderer composes these with numpy; nothing here runs per image. Each
profession is data (a list of drawing operations), so adding one is adding a
row to :data:`PROFESSION_ART`.

Canonical canvas: 128 x 128, person centred at x = 64, head centre (64, 44),
shoulders from y = 78 to the bottom edge; the renderer downsamples to 64 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from generator.world.vocab import ACTIVITIES, AGE_GROUPS, PRESENTATIONS, PROFESSIONS, UNSAFE_PROPS

__all__ = ["SpriteSheet", "sprite_sheet", "CANVAS", "HAIR_COLOURS"]

CANVAS = 128
TORSO = [(18, 128), (19, 98), (28, 86), (48, 78), (80, 78), (100, 86), (109, 98), (110, 128)]
HAT_BRIM = (38, 30, 90, 36)
HAT_DOME = (42, 10, 86, 44)

#: Hair palettes by age group (RGB).
HAIR_COLOURS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "young": ((30, 26, 24), (59, 42, 32), (106, 74, 46), (201, 165, 90), (138, 60, 30)),
    "adult": ((30, 26, 24), (59, 42, 32), (106, 74, 46), (201, 165, 90), (138, 60, 30)),
    "older": ((154, 154, 154), (216, 216, 216), (110, 110, 110)),
}

# One operation: (kind, geometry, colour[, width]). Kinds: torso, rect, ellipse, poly, line, chord, arc.
Op = tuple


def _dome(colour: str, brim: str | None = None) -> list[Op]:
    ops: list[Op] = [("chord", HAT_DOME, colour, 180, 360)]
    if brim:
        ops.append(("rect", HAT_BRIM, brim))
    return ops


def _buttons(xs: tuple[int, ...], ys: tuple[int, ...], colour: str) -> list[Op]:
    return [("ellipse", (x - 2, y - 2, x + 2, y + 2), colour) for x in xs for y in ys]


def _plaid(base: str, line: str) -> list[Op]:
    ops: list[Op] = [("torso", None, base)]
    ops += [("line", [(x, 80), (x, 128)], line, 2) for x in range(24, 108, 9)]
    ops += [("line", [(18, y), (110, y)], line, 2) for y in range(86, 128, 9)]
    return ops


#: Body (attire + prop) and headwear (hats, glasses, headsets) per profession.
PROFESSION_ART: dict[str, dict[str, list[Op]]] = {
    "nurse": {
        "body": [("torso", None, "#6fb7e0"), ("poly", [(52, 78), (64, 94), (76, 78)], "#4a8fbf"),
                 ("rect", (34, 94, 46, 106), "#ffffff"), ("rect", (38, 96, 42, 104), "#d81b1b"),
                 ("rect", (36, 98, 44, 102), "#d81b1b")],
        "head": [("rect", (46, 12, 82, 26), "#ffffff"), ("rect", (62, 14, 66, 24), "#d81b1b"),
                 ("rect", (59, 17, 69, 21), "#d81b1b")],
    },
    "doctor": {
        "body": [("torso", None, "#f4f4f4"), ("poly", [(50, 78), (64, 102), (78, 78)], "#3d6fd0"),
                 ("line", [(50, 80), (56, 96), (62, 106)], "#2a2a2a", 3),
                 ("line", [(78, 80), (72, 96), (66, 106)], "#2a2a2a", 3),
                 ("ellipse", (58, 104, 70, 116), "#9aa4ad")],
        "head": [],
    },
    "firefighter": {
        "body": [("torso", None, "#7a5a22"), ("rect", (18, 106, 110, 112), "#f5e21b"),
                 ("rect", (18, 118, 110, 124), "#f5e21b"), ("rect", (40, 80, 46, 128), "#f5e21b")],
        "head": _dome("#d42020", "#a51616"),
    },
    "chef": {
        "body": [("torso", None, "#fafafa"), *_buttons((56, 72), (90, 102, 114), "#222222")],
        "head": [("rect", (46, 2, 82, 28), "#fdfdfd"), ("ellipse", (38, -6, 66, 18), "#fdfdfd"),
                 ("ellipse", (62, -6, 90, 18), "#fdfdfd"), ("rect", (46, 22, 82, 30), "#dadada")],
    },
    "teacher": {
        "body": [("torso", None, "#8c2d3c"), ("poly", [(50, 78), (62, 90), (58, 78)], "#f5f5f5"),
                 ("poly", [(78, 78), (66, 90), (70, 78)], "#f5f5f5"),
                 ("rect", (84, 96, 114, 104), "#1b6e2e"), ("ellipse", (92, 86, 108, 102), "#d01c1c"),
                 ("line", [(100, 86), (102, 80)], "#3a2a10", 2)],
        "head": [],
    },
    "engineer": {
        "body": [("torso", None, "#2f5fa8"), ("rect", (34, 92, 46, 102), "#244a85"),
                 ("rect", (86, 92, 118, 101), "#8fc0f0"), ("ellipse", (84, 91, 90, 102), "#6a9fd6")],
        "head": _dome("#f2c40f", "#d9ac00"),
    },
    "scientist": {
        "body": [("torso", None, "#eeeeee"), ("poly", [(52, 78), (64, 98), (76, 78)], "#7a4fb0"),
                 ("rect", (96, 86, 102, 100), "#cfe8f0"), ("poly", [(92, 100), (106, 100), (113, 124), (85, 124)], "#30c050")],
        "head": [("rect", (46, 38, 82, 50), "#203040"), ("rect", (50, 40, 62, 48), "#9fd3e6"),
                 ("rect", (66, 40, 78, 48), "#9fd3e6")],
    },
    "mechanic": {
        "body": [("torso", None, "#243a74"), ("ellipse", (30, 100, 40, 106), "#101010"),
                 ("ellipse", (70, 112, 84, 118), "#101010"),
                 ("line", [(90, 122), (110, 92)], "#8d949b", 6), ("ellipse", (104, 82, 118, 96), "#8d949b"),
                 ("ellipse", (108, 86, 114, 92), "#243a74")],
        "head": [("chord", HAT_DOME, "#c62828", 180, 360), ("rect", (60, 30, 98, 36), "#9e1c1c")],
    },
    "carpenter": {
        "body": [*_plaid("#b3302a", "#5a1410"), ("rect", (19, 116, 110, 124), "#6b4423"),
                 ("line", [(98, 126), (104, 92)], "#8b5a2b", 5), ("rect", (92, 84, 116, 93), "#6f6f6f")],
        "head": [],
    },
    "electrician": {
        "body": [("torso", None, "#8a8f96"), ("rect", (24, 84, 50, 128), "#ff7a00"),
                 ("rect", (78, 84, 104, 128), "#ff7a00"), ("rect", (24, 110, 50, 114), "#e8e8e8"),
                 ("rect", (78, 110, 104, 114), "#e8e8e8"),
                 ("poly", [(60, 86), (72, 86), (64, 98), (74, 98), (56, 118), (61, 102), (53, 102)], "#ffd600")],
        "head": _dome("#f5f5f5", "#d9d9d9"),
    },
    "librarian": {
        "body": [("torso", None, "#3d7a4a"), *[("line", [(x, 84), (x, 128)], "#2f6139", 1) for x in range(26, 104, 6)],
                 ("rect", (86, 102, 116, 109), "#c0392b"), ("rect", (88, 109, 118, 116), "#2e86c1"),
                 ("rect", (86, 116, 116, 123), "#f1c40f")],
        "head": [("ellipse", (50, 38, 63, 51), None, 2, "#1a1a1a"), ("ellipse", (65, 38, 78, 51), None, 2, "#1a1a1a"),
                 ("line", [(62, 44), (66, 44)], "#1a1a1a", 2)],
    },
    "receptionist": {
        "body": [("torso", None, "#1f1f24"), ("poly", [(50, 78), (64, 106), (78, 78)], "#f5f5f5")],
        "head": [("arc", (38, 12, 90, 64), "#111111", 180, 360, 4), ("ellipse", (34, 38, 46, 54), "#111111"),
                 ("line", [(42, 52), (54, 60)], "#111111", 3), ("ellipse", (52, 57, 58, 63), "#333333")],
    },
    "hairdresser": {
        "body": [("torso", None, "#e6739f"), ("rect", (86, 86, 90, 106), "#202020"),
                 ("ellipse", (92, 106, 101, 115), None, 3, "#4a4a4a"), ("ellipse", (103, 106, 112, 115), None, 3, "#4a4a4a"),
                 ("line", [(98, 107), (108, 84)], "#c8ccd0", 3), ("line", [(105, 107), (95, 84)], "#c8ccd0", 3)],
        "head": [],
    },
    "baker": {
        "body": [("torso", None, "#f7f4ee"), ("rect", (36, 94, 92, 128), "#d9b77f"),
                 ("line", [(42, 94), (52, 78)], "#d9b77f", 3), ("line", [(86, 94), (76, 78)], "#d9b77f", 3),
                 ("ellipse", (86, 98, 120, 116), "#b5773a"), ("line", [(96, 102), (100, 112)], "#7d4c1e", 2),
                 ("line", [(104, 102), (108, 112)], "#7d4c1e", 2)],
        "head": [("ellipse", (40, 10, 88, 32), "#f7f7f7"), ("rect", (44, 24, 84, 31), "#e6e6e6")],
    },
    "lawyer": {
        "body": [("torso", None, "#3a3a46"), ("poly", [(52, 78), (64, 104), (76, 78)], "#f2f2f2"),
                 ("poly", [(61, 80), (67, 80), (69, 108), (64, 116), (59, 108)], "#c0141c"),
                 ("rect", (86, 104, 118, 126), "#6b3e1e"), ("arc", (94, 96, 110, 110), "#4a2a12", 180, 360, 3)],
        "head": [],
    },
    "cashier": {
        "body": [("torso", None, "#d0312d"), ("poly", [(48, 78), (60, 90), (64, 80)], "#ffffff"),
                 ("poly", [(80, 78), (68, 90), (64, 80)], "#ffffff"), ("rect", (34, 92, 50, 99), "#ffffff"),
                 ("rect", (86, 98, 118, 112), "#5fae5f"), ("ellipse", (97, 100, 107, 110), "#3c7d3c")],
        "head": [],
    },
    "janitor": {
        "body": [("torso", None, "#6f7d5c"), ("rect", (36, 92, 48, 100), "#5a6649"),
                 ("line", [(102, 128), (110, 70)], "#a07040", 4), ("ellipse", (92, 114, 122, 130), "#cfcfcf")],
        "head": [("chord", HAT_DOME, "#58604c", 180, 360), ("rect", (60, 30, 96, 36), "#474e3d")],
    },
    "painter": {
        "body": [("torso", None, "#f0f0f0"), ("ellipse", (30, 96, 38, 104), "#e53935"),
                 ("ellipse", (70, 110, 78, 118), "#1e88e5"), ("ellipse", (48, 116, 56, 124), "#fdd835"),
                 ("ellipse", (86, 92, 92, 98), "#43a047"), ("ellipse", (56, 88, 62, 94), "#8e24aa"),
                 ("line", [(96, 122), (108, 94)], "#8b5a2b", 4), ("rect", (104, 84, 114, 96), "#1e88e5")],
        "head": _dome("#fafafa", "#e0e0e0"),
    },
    "plumber": {
        "body": [("torso", None, "#c43c3c"), ("rect", (38, 92, 90, 128), "#3f6fb5"),
                 ("line", [(42, 92), (44, 80)], "#3f6fb5", 5), ("line", [(86, 92), (84, 80)], "#3f6fb5", 5),
                 ("line", [(104, 124), (106, 92)], "#a0703c", 4), ("chord", (94, 82, 118, 104), "#b71c1c", 180, 360)],
        "head": [],
    },
    "pharmacist": {
        "body": [("torso", None, "#a8dcc0"), ("rect", (38, 90, 46, 106), "#1e8e3e"), ("rect", (34, 94, 50, 102), "#1e8e3e"),
                 ("rect", (92, 100, 108, 122), "#ef7d1a"), ("rect", (90, 94, 110, 101), "#ffffff")],
        "head": [],
    },
    "programmer": {
        "body": [("torso", None, "#222428"), ("line", [(58, 80), (56, 100)], "#e0e0e0", 2),
                 ("line", [(70, 80), (72, 100)], "#e0e0e0", 2),
                 ("rect", (74, 100, 120, 128), "#b0b4ba"), ("rect", (78, 103, 116, 122), "#2f7de1")],
        "head": [],
    },
    "pilot": {
        "body": [("torso", None, "#1a2a5a"), ("poly", [(52, 78), (64, 100), (76, 78)], "#f2f2f2"),
                 ("poly", [(62, 82), (66, 82), (67, 100), (64, 104), (61, 100)], "#111111"),
                 ("rect", (22, 88, 42, 92), "#e0b020"), ("rect", (86, 88, 106, 92), "#e0b020"),
                 ("rect", (22, 94, 42, 97), "#e0b020"), ("rect", (86, 94, 106, 97), "#e0b020")],
        "head": [("ellipse", (38, 10, 90, 30), "#1a2a5a"), ("rect", (44, 22, 84, 28), "#e0b020"),
                 ("rect", (46, 28, 82, 34), "#0d0d0d"), ("ellipse", (60, 12, 68, 20), "#e0b020")],
    },
    "farmer": {
        "body": [*_plaid("#4f8a3a", "#2f5a22"), ("rect", (40, 94, 88, 128), "#4a6fa5"),
                 ("line", [(104, 128), (104, 84)], "#8b5a2b", 4), ("line", [(96, 84), (112, 84)], "#8d949b", 3),
                 *[("line", [(x, 70), (x, 84)], "#8d949b", 2) for x in (97, 104, 111)]],
        "head": [("ellipse", (24, 22, 104, 36), "#e6c15a"), ("ellipse", (42, 6, 86, 30), "#d9b048"),
                 ("rect", (44, 22, 84, 27), "#a8401e")],
    },
    "police officer": {
        "body": [("torso", None, "#1c2a4a"),
                 ("poly", [(40, 90), (43, 96), (49, 96), (44, 100), (46, 106), (40, 102), (34, 106), (36, 100), (31, 96), (37, 96)], "#f0c000"),
                 ("rect", (19, 118, 110, 124), "#0b0b0b"), ("rect", (60, 118, 68, 124), "#c0c0c0")],
        "head": [("chord", (40, 8, 88, 40), "#17223d", 180, 360), ("rect", (40, 22, 88, 30), "#17223d"),
                 ("rect", (44, 29, 86, 35), "#050505"), ("ellipse", (60, 14, 68, 22), "#f0c000")],
    },
}

SCENE_ART: dict[str, list[Op]] = {
    "cooking": [("rect", (0, 0, 128, 128), "#e8e0d0"),
                *[("line", [(x, 0), (x, 128)], "#c4b9a4", 1) for x in range(0, 128, 16)],
                *[("line", [(0, y), (128, y)], "#c4b9a4", 1) for y in range(0, 128, 16)],
                ("ellipse", (4, 46, 36, 70), "#4d4d4d"), ("rect", (4, 34, 36, 58), "#5c5c5c"),
                ("rect", (0, 40, 8, 44), "#2a2a2a"), ("line", [(14, 30), (12, 18)], "#ffffff", 2),
                ("line", [(24, 30), (26, 16)], "#ffffff", 2)],
    "reading": [("rect", (0, 0, 128, 128), "#7a5230"),
                *[("rect", (0, y, 128, y + 4), "#4e3219") for y in (30, 62, 94)],
                *[("rect", (x, y - 22, x + 6, y), c) for y in (30, 62, 94)
                  for x, c in zip(range(2, 128, 8), ["#c0392b", "#2e86c1", "#f1c40f", "#27ae60", "#8e44ad", "#e67e22"] * 3)]],
    "sports": [("rect", (0, 0, 128, 70), "#8fd0f5"), ("rect", (0, 70, 128, 128), "#46a84a"),
               ("line", [(0, 100), (128, 100)], "#f0f0f0", 2), ("rect", (4, 30, 8, 72), "#ffffff"),
               ("rect", (4, 30, 30, 34), "#ffffff"), ("ellipse", (98, 8, 122, 32), "#ffffff"),
               ("poly", [(110, 14), (116, 19), (113, 26), (106, 26), (104, 19)], "#111111")],
    "office": [("rect", (0, 0, 128, 128), "#c9ccd1"), ("rect", (4, 8, 40, 50), "#f5f5f5"),
               ("rect", (7, 11, 37, 47), "#a8d8f0"), ("line", [(22, 11), (22, 47)], "#f5f5f5", 2),
               ("rect", (92, 38, 126, 66), "#151515"), ("rect", (95, 41, 123, 62), "#3f7fd8"),
               ("rect", (106, 66, 112, 76), "#151515")],
    "outdoors": [("rect", (0, 0, 128, 128), "#87ceeb"), ("ellipse", (96, 6, 120, 30), "#ffd54f"),
                 ("ellipse", (-40, 70, 90, 170), "#5cae4f"), ("ellipse", (50, 80, 190, 170), "#4c9a40"),
                 ("rect", (12, 48, 19, 84), "#6d4c41"), ("ellipse", (0, 16, 32, 56), "#2e7d32")],
    "music": [("rect", (0, 0, 128, 128), "#3b1f4f"), ("poly", [(44, 0), (84, 0), (120, 128), (8, 128)], "#5a3a70"),
              *[op for x, y in ((10, 40), (24, 24), (104, 36), (114, 18))
                for op in (("ellipse", (x, y, x + 8, y + 6), "#f5f5f5"), ("line", [(x + 7, y + 3), (x + 7, y - 14)], "#f5f5f5", 2))]],
}

UNSAFE_ART: dict[str, list[Op]] = {
    "knife": [("poly", [(14, 80), (22, 84), (26, 112), (18, 114)], "#d5dade"), ("rect", (16, 112, 28, 128), "#1b1b1b"),
              ("rect", (12, 110, 32, 114), "#555555")],
    "gun": [("rect", (4, 94, 40, 104), "#2b2b2b"), ("poly", [(24, 100), (36, 100), (38, 124), (27, 124)], "#2b2b2b"),
            ("arc", (16, 98, 30, 114), "#2b2b2b", 0, 180, 3), ("rect", (2, 94, 6, 100), "#2b2b2b")],
}


def _draw(ops: list[Op], *, canvas: int = CANVAS) -> np.ndarray:
    img = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    for op in ops:
        kind = op[0]
        if kind == "torso":
            d.polygon(TORSO, fill=op[2])
        elif kind == "rect":
            d.rectangle(op[1], fill=op[2])
        elif kind == "ellipse":
            if op[2] is None:  # outline: ("ellipse", box, None, width, colour)
                d.ellipse(op[1], outline=op[4], width=op[3])
            else:
                d.ellipse(op[1], fill=op[2])
        elif kind == "poly":
            d.polygon(op[1], fill=op[2])
        elif kind == "line":
            d.line(op[1], fill=op[2], width=op[3])
        elif kind == "chord":
            d.chord(op[1], op[3], op[4], fill=op[2])
        elif kind == "arc":
            d.arc(op[1], op[3], op[4], fill=op[2], width=op[5])
        else:  # pragma: no cover - art tables are data written here
            raise ValueError(f"unknown drawing op {kind!r}")
    return np.asarray(img)


def _mask(ops: list[Op]) -> np.ndarray:
    return _draw([(o[0], o[1], "#ffffff", *o[3:]) for o in ops])[..., 3].astype(np.float32) / 255.0


@dataclass(frozen=True)
class SpriteSheet:
    """All sprites as arrays (float32 in [0, 1]); index order follows :mod:`vocab`."""

    body: np.ndarray        # (P, C, C, 4) attire + prop
    headwear: np.ndarray    # (P, C, C, 4) hats, glasses, headsets
    scene: np.ndarray       # (A, C, C, 3) activity backgrounds
    unsafe: np.ndarray      # (U, C, C, 4) unsafe props
    head: np.ndarray        # (G, C, C) skin mask (neck + head) per age group
    shading: np.ndarray     # (C, C) multiplicative shading of skin
    face: np.ndarray        # (S, G, C, C, 4) eyes, brows, mouth, wrinkles per presentation x age
    hair_back: np.ndarray   # (S, G, C, C) hair behind the head
    hair_front: np.ndarray  # (S, G, C, C) fringe over the head


def _head_box(age: str) -> tuple[int, int, int, int]:
    return (43, 22, 85, 68) if age == "young" else (45, 20, 83, 66)


def _face_ops(presentation: str, age: str) -> list[Op]:
    dy = 2 if age == "young" else 0
    eye_r = 4 if age == "young" else 3
    ops: list[Op] = []
    for cx in (56, 72):
        ops += [("ellipse", (cx - eye_r - 1, 42 + dy - eye_r + 1, cx + eye_r + 1, 42 + dy + eye_r - 1), "#fbfbfb"),
                ("ellipse", (cx - 2, 40 + dy, cx + 2, 44 + dy), "#1d1410")]
        brow_w = 3 if presentation == "masculine" else 1
        ops.append(("line", [(cx - 5, 35 + dy), (cx + 4, 35 + dy)], "#2a1e18", brow_w))
    if presentation == "feminine":
        ops += [("ellipse", (58, 54 + dy, 70, 60 + dy), "#c0303f")]
        ops += [("line", [(cx - 5, 39 + dy), (cx - 6, 37 + dy)], "#1d1410", 1) for cx in (56,)]
        ops += [("line", [(cx + 5, 39 + dy), (cx + 6, 37 + dy)], "#1d1410", 1) for cx in (72,)]
    else:
        ops += [("line", [(58, 57 + dy), (70, 57 + dy)], "#5e2f22", 2)]
    if age == "older":
        ops += [("line", [(54, 29), (74, 29)], "#00000070", 1), ("line", [(52, 32), (76, 32)], "#00000070", 1),
                ("line", [(48, 50), (51, 56)], "#00000060", 1), ("line", [(80, 50), (77, 56)], "#00000060", 1)]
    return ops


def _hair_ops(presentation: str, age: str) -> tuple[list[Op], list[Op]]:
    top = 17 if age == "young" else 15
    front: list[Op] = [("chord", (42, top, 86, top + 40), None, 185, 355)]
    if presentation == "feminine":
        back = [("ellipse", (36, top + 2, 92, 104), None), ("rect", (38, 60, 90, 100), None)]
        front += [("rect", (42, 30, 48, 62), None), ("rect", (80, 30, 86, 62), None)]
    elif presentation == "androgynous":
        back = [("ellipse", (38, top + 2, 90, 74), None)]
        front += [("poly", [(44, 28), (70, 24), (50, 38)], None)]
    else:
        back = []
        front = [("chord", (43, top + 2, 85, top + 34), None, 190, 350)]
    return back, front


@lru_cache(maxsize=1)
def sprite_sheet() -> SpriteSheet:
    """Draw every sprite once (cached per process).

    Examples
    --------
    >>> s = sprite_sheet()
    >>> s.body.shape[0] == len(PROFESSIONS), s.scene.shape[1:]
    (True, (128, 128, 3))
    """
    f = np.float32
    body = np.stack([_draw(PROFESSION_ART[p]["body"]) for p in PROFESSIONS]).astype(f) / 255
    headwear = np.stack([_draw(PROFESSION_ART[p]["head"]) for p in PROFESSIONS]).astype(f) / 255
    scene = np.stack([_draw(SCENE_ART[a])[..., :3] for a in ACTIVITIES]).astype(f) / 255
    unsafe = np.stack([_draw(UNSAFE_ART[u]) for u in UNSAFE_PROPS]).astype(f) / 255
    head = np.stack([_mask([("rect", (56, 58, 72, 84), None), ("ellipse", _head_box(a), None),
                            ("ellipse", (41, 40, 47, 50), None), ("ellipse", (81, 40, 87, 50), None)])
                     for a in AGE_GROUPS])
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS].astype(f)
    r = np.sqrt(((xx - 60) / 22) ** 2 + ((yy - 40) / 26) ** 2)
    shading = np.clip(1.05 - 0.10 * r**2, 0.86, 1.05).astype(f)
    shading[yy > 68] = 0.88  # neck in the shadow of the head
    face = np.stack([np.stack([_draw(_face_ops(s, a)) for a in AGE_GROUPS]) for s in PRESENTATIONS]).astype(f) / 255
    hb, hf = [], []
    for s in PRESENTATIONS:
        rows_b, rows_f = [], []
        for a in AGE_GROUPS:
            back, front = _hair_ops(s, a)
            rows_b.append(_mask(back) if back else np.zeros((CANVAS, CANVAS), f))
            rows_f.append(_mask(front))
        hb.append(np.stack(rows_b))
        hf.append(np.stack(rows_f))
    return SpriteSheet(body, headwear, scene, unsafe, head, shading, face, np.stack(hb), np.stack(hf))
