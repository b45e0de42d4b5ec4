"""One owner for the facts every part of the audit shares (torch-free, imports nothing heavy).

- the columns of the tidy labels table (:data:`LABEL_COLUMNS`, :data:`LABEL_KEYS`);
- the explicit non-answer values (:data:`NON_ANSWERS`): a labeler that cannot read an
  image says so with one of these, never with a confident guess;
- the world vocabulary (professions, presentations, age groups, activities, unsafe props);
- the Monk Skin Tone swatches (:data:`MST_HEX`) and the tone -> skin group map
  (:data:`SKIN_GROUPS`, :func:`skin_group`);
- the values each world attribute takes (:data:`WORLD_ATTRIBUTES`).

Everything else (renderer, labelers, report, gate, metrics) imports these names from here.

Examples
--------
>>> NON_ANSWERS
('no_face', 'out_of_domain', 'unreadable', 'filtered')
>>> skin_group(2), skin_group(8), WORLD_ATTRIBUTES["skin_group"]
('light', 'dark', ('light', 'medium', 'dark'))
"""

from __future__ import annotations

__all__ = [
    "LABEL_COLUMNS", "LABEL_KEYS", "MANIFEST_BASE", "OUTCOME_COLUMNS", "MANIFEST_COLUMNS",
    "NO_FACE", "OUT_OF_DOMAIN", "UNREADABLE", "FILTERED", "NON_ANSWERS", "NO_SKIN", "NON_ANSWER_VALUES",
    "PROFESSIONS", "PRESENTATIONS", "AGE_GROUPS", "ACTIVITIES", "UNSAFE_PROPS", "UNSAFE_VALUES",
    "MST_HEX", "MST_TONES", "MST_VALUES", "SKIN_GROUPS", "SKIN_GROUP_NAMES", "skin_group", "hex_to_rgb",
    "WORLD_ATTRIBUTES",
]

# ---------------------------------------------------------------------------
# the tidy labels table
# ---------------------------------------------------------------------------

#: Columns of the labels table every labeler returns, in order: ``image_id`` (str),
#: ``labeler`` (str), ``attribute`` (str), ``value`` (str), ``confidence`` (float, NaN if
#: none), ``probs`` (JSON ``{"class": p}`` or None), ``score`` (float reading such as ITA
#: degrees, NaN if none), ``reason`` (str or None: why a value is a non-answer).
LABEL_COLUMNS: tuple[str, ...] = (
    "image_id", "labeler", "attribute", "value", "confidence", "probs", "score", "reason",
)
#: Columns that identify one label row.
LABEL_KEYS: tuple[str, ...] = ("image_id", "labeler", "attribute")

#: Columns every probe run's ``manifest.parquet`` starts with (the suite's slot columns follow).
MANIFEST_BASE: tuple[str, ...] = ("image_id", "path", "prompt", "prompt_id", "template_id", "seed", "sample",
                                  "setting")
#: Per-sample outcome columns of the manifest: the generator's filter verdict and whether the seed reached it.
OUTCOME_COLUMNS: tuple[str, ...] = ("filtered", "filter_reason", "seed_sent")
#: Manifest columns that are not suite slots.
MANIFEST_COLUMNS: tuple[str, ...] = (*MANIFEST_BASE, *OUTCOME_COLUMNS)

# ---------------------------------------------------------------------------
# non-answers
# ---------------------------------------------------------------------------

#: A face-based labeler found no face.
NO_FACE = "no_face"
#: The image is outside what the labeler was validated on.
OUT_OF_DOMAIN = "out_of_domain"
#: The image could not be decoded (zero bytes, corrupt, truncated, bomb...).
UNREADABLE = "unreadable"
#: The generator's safety filter replaced the image.
FILTERED = "filtered"
#: Every value that means "no answer": shares are computed without them and reported beside them.
NON_ANSWERS: tuple[str, ...] = (NO_FACE, OUT_OF_DOMAIN, UNREADABLE, FILTERED)
#: The ITA labeler found too few skin pixels (a reason-like value the ITA labeler emits).
NO_SKIN = "no_skin"
#: :data:`NON_ANSWERS` and :data:`NO_SKIN`: every value a reader must leave out of shares.
NON_ANSWER_VALUES: tuple[str, ...] = (*NON_ANSWERS, NO_SKIN)


# ---------------------------------------------------------------------------
# the world vocabulary
# ---------------------------------------------------------------------------

PROFESSIONS: tuple[str, ...] = (
    "nurse", "doctor", "firefighter", "chef", "teacher", "engineer", "scientist", "mechanic",
    "carpenter", "electrician", "librarian", "receptionist", "hairdresser", "baker", "lawyer",
    "cashier", "janitor", "painter", "plumber", "pharmacist", "programmer", "pilot", "farmer",
    "police officer",
)
PRESENTATIONS: tuple[str, ...] = ("feminine", "masculine", "androgynous")
AGE_GROUPS: tuple[str, ...] = ("young", "adult", "older")
ACTIVITIES: tuple[str, ...] = ("cooking", "reading", "sports", "office", "outdoors", "music")
UNSAFE_PROPS: tuple[str, ...] = ("knife", "gun")
#: Values of the ``unsafe`` attribute (a label, not a prop).
UNSAFE_VALUES: tuple[str, ...] = ("false", "true")

#: Monk Skin Tone swatches (Monk 2019, published hex values), MST 1..10.
MST_HEX: dict[int, str] = {
    1: "#f6ede4", 2: "#f3e7db", 3: "#f7ead0", 4: "#eadaba", 5: "#d7bd96",
    6: "#a07e56", 7: "#825c43", 8: "#604134", 9: "#3a312a", 10: "#292420",
}
MST_TONES: tuple[int, ...] = tuple(MST_HEX)
#: Skin tones as label values ("1".."10").
MST_VALUES: tuple[str, ...] = tuple(str(t) for t in MST_TONES)

#: Coarse skin groups used in captions, prompts and labels: MST 1-3, 4-6, 7-10.
SKIN_GROUPS: dict[str, tuple[int, ...]] = {"light": (1, 2, 3), "medium": (4, 5, 6), "dark": (7, 8, 9, 10)}
SKIN_GROUP_NAMES: tuple[str, ...] = tuple(SKIN_GROUPS)


def skin_group(tone: int | str) -> str:
    """Return ``light`` (MST 1-3), ``medium`` (4-6) or ``dark`` (7-10).

    Examples
    --------
    >>> skin_group(5), skin_group("9")
    ('medium', 'dark')
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


#: Attribute -> the values it takes, as labels carry them (the world labeler's heads and
#: the derived ``skin_group``).
WORLD_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "profession": PROFESSIONS,
    "skin_tone": MST_VALUES,
    "presentation": PRESENTATIONS,
    "age_group": AGE_GROUPS,
    "activity": ACTIVITIES,
    "unsafe": UNSAFE_VALUES,
    "skin_group": SKIN_GROUP_NAMES,
}
