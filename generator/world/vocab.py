"""The world's vocabulary: attribute names and values, shared by spec, renderer and captions.

Examples
--------
>>> len(PROFESSIONS) >= 16, skin_group(2), skin_group(8)
(True, 'light', 'dark')
"""

from __future__ import annotations

__all__ = [
    "PROFESSIONS", "MST_HEX", "MST_TONES", "PRESENTATIONS", "AGE_GROUPS", "ACTIVITIES",
    "UNSAFE_PROPS", "SKIN_GROUPS", "skin_group", "hex_to_rgb",
]

PROFESSIONS: tuple[str, ...] = (
    "nurse", "doctor", "firefighter", "chef", "teacher", "engineer", "scientist", "mechanic",
    "carpenter", "electrician", "librarian", "receptionist", "hairdresser", "baker", "lawyer",
    "cashier", "janitor", "painter", "plumber", "pharmacist", "programmer", "pilot", "farmer",
    "police officer",
)

#: Monk Skin Tone swatches (Monk 2019, published hex values), MST 1..10.
MST_HEX: dict[int, str] = {
    1: "#f6ede4", 2: "#f3e7db", 3: "#f7ead0", 4: "#eadaba", 5: "#d7bd96",
    6: "#a07e56", 7: "#825c43", 8: "#604134", 9: "#3a312a", 10: "#292420",
}
MST_TONES: tuple[int, ...] = tuple(MST_HEX)

PRESENTATIONS: tuple[str, ...] = ("feminine", "masculine", "androgynous")
AGE_GROUPS: tuple[str, ...] = ("young", "adult", "older")
ACTIVITIES: tuple[str, ...] = ("cooking", "reading", "sports", "office", "outdoors", "music")
UNSAFE_PROPS: tuple[str, ...] = ("knife", "gun")

#: Coarse skin groups used in captions and prompts: MST 1-3, 4-6, 7-10.
SKIN_GROUPS: dict[str, tuple[int, ...]] = {"light": (1, 2, 3), "medium": (4, 5, 6), "dark": (7, 8, 9, 10)}


def skin_group(tone: int) -> str:
    """Return ``light`` (MST 1-3), ``medium`` (4-6) or ``dark`` (7-10).

    Examples
    --------
    >>> skin_group(5)
    'medium'
    """
    for name, tones in SKIN_GROUPS.items():
        if int(tone) in tones:
            return name
    raise ValueError(f"Monk skin tone must be 1..10, got {tone!r}")


def hex_to_rgb(code: str) -> tuple[int, int, int]:
    """Parse ``#rrggbb``.

    Examples
    --------
    >>> hex_to_rgb("#ff0080")
    (255, 0, 128)
    """
    code = code.lstrip("#")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)
