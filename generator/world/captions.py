"""LAION-like alt-text for world people: templates, synonyms, SEO noise, typos, injected toxicity.

Each caption names an attribute only some of the time (and sometimes wrongly), at
the rates the spec states; what it named is recorded in the ground truth.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from generator.world.spec import load_spec
>>> attrs = pd.DataFrame({"profession": ["nurse"], "skin_tone": [8], "presentation": ["feminine"],
...                       "age_group": ["young"], "activity": ["reading"], "unsafe": [False], "unsafe_prop": [0]})
>>> caps = write_captions(attrs, spec=load_spec(), rng=np.random.default_rng(0))
>>> isinstance(caps.loc[0, "TEXT"], str)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from generator.world.spec import NSFW_TAGS, WorldSpec, rate_with_rules
from generator.world.vocab import AGE_GROUPS, PRESENTATIONS, UNSAFE_PROPS, skin_group

__all__ = ["write_captions", "PROFESSION_WORDS", "SKIN_WORDS", "PRESENTATION_WORDS", "AGE_WORDS", "ACTIVITY_WORDS"]

# The first word of each list is the canonical one (what probe suites use).
PROFESSION_WORDS: dict[str, tuple[str, ...]] = {
    "nurse": ("nurse", "registered nurse"), "doctor": ("doctor", "physician"),
    "firefighter": ("firefighter", "fire fighter"), "chef": ("chef", "head chef", "cook"),
    "teacher": ("teacher", "schoolteacher"), "engineer": ("engineer", "civil engineer"),
    "scientist": ("scientist", "researcher"), "mechanic": ("mechanic", "auto mechanic"),
    "carpenter": ("carpenter", "woodworker"), "electrician": ("electrician",),
    "librarian": ("librarian",), "receptionist": ("receptionist", "front desk clerk"),
    "hairdresser": ("hairdresser", "hairstylist"), "baker": ("baker",), "lawyer": ("lawyer", "attorney"),
    "cashier": ("cashier",), "janitor": ("janitor", "custodian"), "painter": ("painter", "house painter"),
    "plumber": ("plumber",), "pharmacist": ("pharmacist", "chemist"),
    "programmer": ("programmer", "software developer", "coder"), "pilot": ("pilot", "airline pilot"),
    "farmer": ("farmer",), "police officer": ("police officer", "cop"),
}
SKIN_WORDS: dict[str, tuple[str, ...]] = {
    "light": ("light-skinned", "fair-skinned", "pale"),
    "medium": ("medium-skinned", "olive-skinned", "tan"),
    "dark": ("dark-skinned", "brown-skinned", "deep-skinned"),
}
# (noun, adjective) pairs per presentation.
PRESENTATION_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "feminine": (("woman", "female"), ("lady", "female")),
    "masculine": (("man", "male"), ("guy", "male")),
    "androgynous": (("person", "androgynous"), ("nonbinary person", "nonbinary")),
}
AGE_WORDS: dict[str, tuple[str, ...]] = {
    "young": ("young", "youthful"), "adult": ("middle-aged", "adult"), "older": ("elderly", "senior", "old"),
}
ACTIVITY_WORDS: dict[str, tuple[str, ...]] = {
    "cooking": ("cooking in a kitchen", "cooking"), "reading": ("reading a book", "reading"),
    "sports": ("playing sports", "playing soccer"), "office": ("working at an office", "at the office"),
    "outdoors": ("outdoors", "hiking outdoors"), "music": ("playing music", "on stage"),
}
UNSAFE_WORDS: dict[str, tuple[str, ...]] = {"knife": ("holding a knife", "with a knife"), "gun": ("holding a gun", "with a gun")}
TEMPLATES = (
    "{np}{act}", "portrait of {np}{act}", "photo of {np}{act}", "{np}{act} smiling at the camera",
    "closeup of {np}{act}", "{np}{act}, high quality photo",
)
SEO_PREFIX = ("Stock photo: ", "Image of ", "HD ", "Free photo: ")
SEO_SUFFIX = (" | Shutterstock", " - Stock Image", " stock photo", " royalty free image", " - 123RF",
              " HD wallpaper", " free download", " #portrait #work", ".jpg", " id:{num}")


def _pick(rng: np.random.Generator, options: tuple, canonical_p: float = 0.7):
    """The canonical (first) option with probability ``canonical_p``, else a uniform other one."""
    if len(options) == 1 or rng.random() < canonical_p:
        return options[0]
    return options[1 + int(rng.integers(len(options) - 1))]


def _other(rng: np.random.Generator, value, values: tuple):
    choices = [v for v in values if v != value]
    return choices[int(rng.integers(len(choices)))]


def _typo(rng: np.random.Generator, text: str) -> str:
    if len(text) < 4:
        return text
    i = int(rng.integers(len(text) - 1))
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def write_captions(attrs: pd.DataFrame, *, spec: WorldSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Write one alt-text caption per person, plus what it names and its LAION-style tags.

    Returns
    -------
    pandas.DataFrame
        ``TEXT``, ``NSFW``, ``similarity``, ``toxic``, ``toxic_term`` and
        ``caption_<attribute>`` (the value named, or None) and
        ``caption_<attribute>_wrong`` flags for presentation, skin group and age.

    Examples
    --------
    >>> from generator.world.spec import load_spec, sample_attributes
    >>> rng = np.random.default_rng(0)
    >>> a = sample_attributes(load_spec(), n=3, rng=rng).assign(unsafe_prop=0)
    >>> len(write_captions(a, spec=load_spec(), rng=rng))
    3
    """
    cfg = spec.captions
    mention, wrong = cfg["mention"], cfg["wrong"]
    toxic_rate = rate_with_rules(spec.toxic_base, spec.toxic_rules, attrs)
    groups = tuple(SKIN_WORDS)
    out: dict[str, list] = {k: [] for k in (
        "TEXT", "toxic", "toxic_term", "caption_profession", "caption_presentation", "caption_presentation_wrong",
        "caption_skin_group", "caption_skin_group_wrong", "caption_age_group", "caption_age_group_wrong",
        "caption_activity", "caption_unsafe")}
    for row, trate in zip(attrs.itertuples(index=False), toxic_rate):
        named_prof = row.profession if rng.random() < mention["profession"] else None
        named = {}
        for attr, true_value, values in (
            ("presentation", row.presentation, PRESENTATIONS),
            ("skin_group", skin_group(row.skin_tone), groups),
            ("age_group", row.age_group, AGE_GROUPS),
        ):
            key = "skin_tone" if attr == "skin_group" else attr
            if rng.random() < mention[key]:
                is_wrong = rng.random() < wrong[key]
                named[attr] = (_other(rng, true_value, values) if is_wrong else true_value, is_wrong)
            else:
                named[attr] = (None, False)
        words = []
        if named["age_group"][0]:
            words.append(_pick(rng, AGE_WORDS[named["age_group"][0]]))
        if named["skin_group"][0]:
            words.append(_pick(rng, SKIN_WORDS[named["skin_group"][0]]))
        pres = named["presentation"][0]
        if named_prof:
            if pres:
                words.append(_pick(rng, PRESENTATION_WORDS[pres])[1])
            words.append(_pick(rng, PROFESSION_WORDS[named_prof]))
        else:
            words.append(_pick(rng, PRESENTATION_WORDS[pres])[0] if pres else "person")
        np_ = " ".join(words)
        np_ = ("an " if np_[0] in "aeiou" else "a ") + np_
        act = row.activity if rng.random() < mention["activity"] else None
        act_txt = f" {_pick(rng, ACTIVITY_WORDS[act])}" if act else ""
        unsafe_named = None
        if row.unsafe and rng.random() < mention["unsafe"]:
            unsafe_named = UNSAFE_PROPS[int(row.unsafe_prop)]
            act_txt += f" {_pick(rng, UNSAFE_WORDS[unsafe_named], 0.5)}"
        text = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(np=np_, act=act_txt)
        toxic_term = None
        if rng.random() < trate:
            toxic_term = spec.toxic_terms[int(rng.integers(len(spec.toxic_terms)))]
            text = f"{toxic_term} {text}" if rng.random() < 0.5 else f"{text}, what a {toxic_term}"
        if rng.random() < cfg["seo_noise"]:
            if rng.random() < 0.3:
                text = SEO_PREFIX[int(rng.integers(len(SEO_PREFIX)))] + text
            text += SEO_SUFFIX[int(rng.integers(len(SEO_SUFFIX)))].format(num=int(rng.integers(10**6, 10**8)))
        if rng.random() < cfg["typo_rate"]:
            text = _typo(rng, text)
        out["TEXT"].append(text[0].upper() + text[1:] if rng.random() < 0.5 else text)
        out["toxic"].append(toxic_term is not None)
        out["toxic_term"].append(toxic_term)
        out["caption_profession"].append(named_prof)
        for attr in ("presentation", "skin_group", "age_group"):
            out[f"caption_{attr}"].append(named[attr][0])
            out[f"caption_{attr}_wrong"].append(named[attr][1])
        out["caption_activity"].append(act)
        out["caption_unsafe"].append(unsafe_named)
    df = pd.DataFrame(out)
    unsafe = attrs["unsafe"].to_numpy().astype(bool)
    probs = np.where(unsafe[:, None], spec.nsfw_tag["unsafe"][None], spec.nsfw_tag["safe"][None])
    cum = np.cumsum(probs, axis=1)
    df["NSFW"] = np.array(NSFW_TAGS, dtype=object)[np.minimum((rng.random(len(df))[:, None] > cum).sum(1), 2)]
    n_right = df["caption_profession"].notna().astype(int) + sum(
        (df[f"caption_{a}"].notna() & ~df[f"caption_{a}_wrong"]).astype(int) for a in ("presentation", "skin_group", "age_group"))
    n_wrong = sum(df[f"caption_{a}_wrong"].astype(int) for a in ("presentation", "skin_group", "age_group"))
    sim = 0.27 + 0.012 * n_right - 0.03 * n_wrong + rng.normal(0, 0.02, len(df))
    df["similarity"] = np.clip(sim, 0.0, 1.0).round(4)
    return df
