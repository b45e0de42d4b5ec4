"""The world spec: load and validate ``data/world.yaml``, and sample attributes from it.

Validation errors name the file, the field and the fix
(:class:`audit.errors.SpecError`).

Examples
--------
>>> import numpy as np
>>> spec = load_spec()
>>> df = sample_attributes(spec, n=5, rng=np.random.default_rng(0))
>>> sorted(df.columns)[:3]
['activity', 'age_group', 'presentation']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from audit.errors import SpecError
from audit.resources import data_path
from generator.world.vocab import ACTIVITIES, AGE_GROUPS, MST_TONES, PRESENTATIONS, PROFESSIONS

__all__ = ["WorldSpec", "Rule", "load_spec", "parse_spec", "sample_attributes", "conditional_tables", "rate_with_rules"]

_TOL = 1e-6
NSFW_TAGS = ("UNLIKELY", "UNSURE", "NSFW")


@dataclass(frozen=True)
class Rule:
    """A multiplier applied where every ``when`` condition holds (attribute -> allowed values)."""

    when: dict[str, tuple]
    factor: float

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        """Rows of ``df`` the rule applies to."""
        out = np.ones(len(df), bool)
        for col, values in self.when.items():
            out &= df[col].isin(values).to_numpy()
        return out


@dataclass(frozen=True)
class WorldSpec:
    """A validated world spec. Probabilities are numpy arrays ordered like :mod:`vocab`."""

    source: str
    name: str
    p_profession: np.ndarray                    # (P,)
    p_feminine_binary: np.ndarray               # (P,) share of women among binary presentations
    androgynous_share: float
    p_skin: np.ndarray                          # (P, 10)
    p_age: np.ndarray                           # (G,)
    p_activity: np.ndarray                      # (S, A)
    unsafe_base: float
    unsafe_rules: tuple[Rule, ...]
    captions: dict[str, Any]
    toxic_terms: tuple[str, ...]
    toxic_base: float
    toxic_rules: tuple[Rule, ...]
    nsfw_tag: dict[str, np.ndarray]
    raw: dict[str, Any]

    def p_presentation(self) -> np.ndarray:
        """P(presentation | profession) as a (P, 3) array in :data:`PRESENTATIONS` order."""
        fem = (1 - self.androgynous_share) * self.p_feminine_binary
        mas = (1 - self.androgynous_share) * (1 - self.p_feminine_binary)
        return np.stack([fem, mas, np.full_like(fem, self.androgynous_share)], axis=1)


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, problem: str, fix: str) -> None:
        raise SpecError(self.source, field, problem, fix)

    def get(self, d: Any, key: str, field: str, kind: type | tuple = dict) -> Any:
        if not isinstance(d, dict) or key not in d:
            self.fail(f"{field}.{key}".lstrip("."), "is missing", f"add `{key}:` (see data/world.yaml for the format)")
        val = d[key]
        if not isinstance(val, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(f"{field}.{key}".lstrip("."), f"must be a {want}, got {type(val).__name__}", f"write `{key}` as a {want}")
        return val

    def prob(self, v: Any, field: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v <= 1):
            self.fail(field, f"{v!r} is not a probability", "use a number between 0 and 1")
        return float(v)

    def distribution(self, d: dict, vocab: tuple, field: str, *, complete: bool = True) -> np.ndarray:
        unknown = [k for k in d if k not in vocab]
        if unknown:
            self.fail(f"{field}.{unknown[0]}", f"unknown name {unknown[0]!r}", f"use one of {list(vocab)}")
        missing = [k for k in vocab if k not in d]
        if complete and missing:
            self.fail(field, f"has no entry for {missing}", "give every value a probability (0 is allowed)")
        p = np.array([self.prob(d.get(k, 0.0), f"{field}.{k}") for k in vocab])
        if abs(p.sum() - 1) > _TOL:
            self.fail(field, f"probabilities sum to {p.sum():.6g}, not 1", "make the values sum to 1")
        return p

    def rules(self, items: Any, field: str) -> tuple[Rule, ...]:
        if items is None:
            return ()
        if not isinstance(items, list):
            self.fail(field, "must be a list of {when: ..., factor: ...}", "write a YAML list")
        vocab = {"profession": PROFESSIONS, "presentation": PRESENTATIONS, "age_group": AGE_GROUPS,
                 "activity": ACTIVITIES, "skin_tone": MST_TONES}
        out = []
        for i, item in enumerate(items):
            f = f"{field}[{i}]"
            when = self.get(item, "when", f)
            factor = self.get(item, "factor", f, (int, float))
            if factor < 0:
                self.fail(f"{f}.factor", f"{factor} is negative", "use a factor >= 0")
            conds = {}
            for attr, values in when.items():
                if attr not in vocab:
                    self.fail(f"{f}.when.{attr}", f"unknown attribute {attr!r}", f"use one of {list(vocab)}")
                values = values if isinstance(values, list) else [values]
                bad = [v for v in values if v not in vocab[attr]]
                if bad:
                    self.fail(f"{f}.when.{attr}", f"unknown value {bad[0]!r}", f"use values from {list(vocab[attr])}")
                conds[attr] = tuple(values)
            out.append(Rule(conds, float(factor)))
        return tuple(out)


def parse_spec(raw: Any, *, source: str = "<spec>") -> WorldSpec:
    """Validate a spec already parsed from YAML.

    Raises
    ------
    audit.errors.SpecError
        Naming the file, the field and the fix.

    Examples
    --------
    >>> import yaml
    >>> raw = yaml.safe_load(open(data_path("world.yaml")))
    >>> raw["age_group"] = {"young": 0.5, "adult": 0.2, "older": 0.2}
    >>> parse_spec(raw, source="w.yaml")
    Traceback (most recent call last):
    audit.errors.SpecError: w.yaml: field age_group: probabilities sum to 0.9, not 1 (fix: make the values sum to 1)
    """
    c = _Checker(source)
    if not isinstance(raw, dict):
        c.fail("<top>", "the file is not a YAML mapping", "start from data/world.yaml")
    version = c.get(raw, "version", "", int)
    if version != 1:
        c.fail("version", f"unsupported version {version}", "use version: 1")
    p_prof = c.distribution(c.get(raw, "professions", ""), PROFESSIONS, "professions")
    pres = c.get(raw, "presentation", "")
    andro = c.prob(c.get(pres, "androgynous_share", "presentation", (int, float)), "presentation.androgynous_share")
    pct = c.get(pres, "percent_women", "presentation")
    unknown = [k for k in pct if k not in PROFESSIONS]
    if unknown:
        c.fail(f"presentation.percent_women.{unknown[0]}", f"unknown profession {unknown[0]!r}", f"use one of {list(PROFESSIONS)}")
    fem = []
    for prof in PROFESSIONS:
        if prof not in pct:
            c.fail(f"presentation.percent_women.{prof}", "is missing", "add the % women for this profession and its source")
        v = pct[prof]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
            c.fail(f"presentation.percent_women.{prof}", f"{v!r} is not a percentage", "use a number from 0 to 100")
        fem.append(v / 100)
    skin = c.get(raw, "skin_tone", "")
    base = c.distribution({int(k) if str(k).isdigit() else k: v for k, v in c.get(skin, "base", "skin_tone").items()},
                          MST_TONES, "skin_tone.base")
    p_skin = np.tile(base, (len(PROFESSIONS), 1))
    for i, tilt in enumerate(skin.get("tilts") or []):
        f = f"skin_tone.tilts[{i}]"
        profs = c.get(tilt, "professions", f, list)
        weights = c.get(tilt, "weights", f)
        for prof in profs:
            if prof not in PROFESSIONS:
                c.fail(f"{f}.professions", f"unknown profession {prof!r}", f"use one of {list(PROFESSIONS)}")
        w = np.ones(len(MST_TONES))
        for k, v in weights.items():
            if int(k) not in MST_TONES:
                c.fail(f"{f}.weights.{k}", f"unknown Monk skin tone {k!r}", "use tones 1..10")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                c.fail(f"{f}.weights.{k}", f"{v!r} is not a weight", "use a number >= 0")
            w[int(k) - 1] = v
        for prof in profs:
            row = p_skin[PROFESSIONS.index(prof)] * w
            p_skin[PROFESSIONS.index(prof)] = row / row.sum()
    p_age = c.distribution(c.get(raw, "age_group", ""), AGE_GROUPS, "age_group")
    act = c.get(raw, "activity", "")
    p_act = np.stack([c.distribution(c.get(act, s, "activity"), ACTIVITIES, f"activity.{s}") for s in PRESENTATIONS])
    unsafe = c.get(raw, "unsafe", "")
    unsafe_base = c.prob(c.get(unsafe, "base_rate", "unsafe", (int, float)), "unsafe.base_rate")
    unsafe_rules = c.rules(unsafe.get("multipliers"), "unsafe.multipliers")
    caps = c.get(raw, "captions", "")
    mention = c.get(caps, "mention", "captions")
    for k in ("profession", "presentation", "skin_tone", "age_group", "activity", "unsafe"):
        c.prob(c.get(mention, k, "captions.mention", (int, float)), f"captions.mention.{k}")
    wrong = c.get(caps, "wrong", "captions")
    for k in ("presentation", "skin_tone", "age_group"):
        c.prob(c.get(wrong, k, "captions.wrong", (int, float)), f"captions.wrong.{k}")
    for k in ("seo_noise", "typo_rate"):
        c.prob(c.get(caps, k, "captions", (int, float)), f"captions.{k}")
    toxic = c.get(caps, "toxic", "captions")
    terms = c.get(toxic, "terms", "captions.toxic", list)
    if not terms or not all(isinstance(t, str) and t.strip() for t in terms):
        c.fail("captions.toxic.terms", "must be a non-empty list of words", "list the toxic terms to inject")
    toxic_base = c.prob(c.get(toxic, "base_rate", "captions.toxic", (int, float)), "captions.toxic.base_rate")
    toxic_rules = c.rules(toxic.get("multipliers"), "captions.toxic.multipliers")
    tags = c.get(raw, "nsfw_tag", "")
    nsfw = {k: c.distribution(c.get(tags, k, "nsfw_tag"), NSFW_TAGS, f"nsfw_tag.{k}") for k in ("unsafe", "safe")}
    for name, rate, rules in (("unsafe", unsafe_base, unsafe_rules), ("captions.toxic", toxic_base, toxic_rules)):
        worst = rate * np.prod([r.factor for r in rules] or [1.0])
        if worst > 1:
            c.fail(f"{name}.multipliers", f"base rate x all factors = {worst:.3g} exceeds 1", "lower the base rate or the factors")
    return WorldSpec(
        source=source, name=str(raw.get("name", "world")), p_profession=p_prof,
        p_feminine_binary=np.array(fem), androgynous_share=andro, p_skin=p_skin, p_age=p_age,
        p_activity=p_act, unsafe_base=unsafe_base, unsafe_rules=unsafe_rules, captions=caps,
        toxic_terms=tuple(terms), toxic_base=toxic_base, toxic_rules=toxic_rules, nsfw_tag=nsfw, raw=raw,
    )


def load_spec(path: str | Path | None = None) -> WorldSpec:
    """Load and validate a world spec (default: the shipped ``data/world.yaml``).

    Examples
    --------
    >>> load_spec().name
    'world-v1'
    """
    path = Path(path) if path is not None else data_path("world.yaml")
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(str(path), "<file>", f"cannot be read ({exc.strerror})", "pass --spec with an existing YAML file") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise SpecError(str(path), "<yaml>", f"is not valid YAML ({getattr(exc, 'problem', exc)})", "fix the YAML syntax",
                        line=None if line is None else line + 1) from None
    return parse_spec(raw, source=str(path))


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1), vectorised."""
    cum = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((u > cum).sum(axis=-1), probs.shape[-1] - 1)


def rate_with_rules(base: float, rules: tuple[Rule, ...], df: pd.DataFrame) -> np.ndarray:
    """Per-row rate: ``base`` times the factor of every rule whose conditions hold.

    Examples
    --------
    >>> rate_with_rules(0.1, (Rule({"skin_tone": (9,)}, 3.0),), pd.DataFrame({"skin_tone": [1, 9]})).round(2).tolist()
    [0.1, 0.3]
    """
    rate = np.full(len(df), base)
    for r in rules:
        rate[r.mask(df)] *= r.factor
    return rate


def sample_attributes(spec: WorldSpec, *, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` people from the spec's joint distribution.

    Returns
    -------
    pandas.DataFrame
        ``profession, skin_tone, presentation, age_group, activity, unsafe``.

    Examples
    --------
    >>> df = sample_attributes(load_spec(), n=1000, rng=np.random.default_rng(0))
    >>> bool(df.skin_tone.between(1, 10).all())
    True
    """
    prof = rng.choice(len(PROFESSIONS), size=n, p=spec.p_profession)
    pres = _categorical(rng, spec.p_presentation()[prof])
    tone = _categorical(rng, spec.p_skin[prof]) + 1
    age = rng.choice(len(AGE_GROUPS), size=n, p=spec.p_age)
    act = _categorical(rng, spec.p_activity[pres])
    df = pd.DataFrame({
        "profession": np.array(PROFESSIONS, dtype=object)[prof],
        "skin_tone": tone.astype(np.int64),
        "presentation": np.array(PRESENTATIONS, dtype=object)[pres],
        "age_group": np.array(AGE_GROUPS, dtype=object)[age],
        "activity": np.array(ACTIVITIES, dtype=object)[act],
    })
    df["unsafe"] = rng.random(n) < rate_with_rules(spec.unsafe_base, spec.unsafe_rules, df)
    return df


def conditional_tables(spec: WorldSpec) -> dict[str, pd.DataFrame]:
    """The spec's true conditional distributions as tidy tables (for audits to compare against).

    Examples
    --------
    >>> t = conditional_tables(load_spec())
    >>> round(float(t["presentation"].query("profession == 'nurse' and presentation == 'feminine'").p.iloc[0]), 3)
    0.842
    """
    pres = spec.p_presentation()
    rows_p = [(prof, s, pres[i, j]) for i, prof in enumerate(PROFESSIONS) for j, s in enumerate(PRESENTATIONS)]
    rows_s = [(prof, t, spec.p_skin[i, t - 1]) for i, prof in enumerate(PROFESSIONS) for t in MST_TONES]
    rows_a = [(s, a, spec.p_activity[i, j]) for i, s in enumerate(PRESENTATIONS) for j, a in enumerate(ACTIVITIES)]
    return {
        "presentation": pd.DataFrame(rows_p, columns=["profession", "presentation", "p"]),
        "skin_tone": pd.DataFrame(rows_s, columns=["profession", "skin_tone", "p"]),
        "activity": pd.DataFrame(rows_a, columns=["presentation", "activity", "p"]),
    }
