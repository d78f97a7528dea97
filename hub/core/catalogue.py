"""The policy's service names as a reader looks them up: keys and aliases (and the singular of
a plural alias), one pattern for all of them (the longest name where names overlap), and the
names a text contains. Pure; made once per policy object (hub.core.reading reads with it).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from hub.core.text import norm
from hub.policy.model import Policy

# singulars of plural aliases that mostly mean something else ("in order to", "our team")
_OTHER_MEANING = frozenset({"order", "team", "account", "file", "app", "ticket", "time", "s"})


@lru_cache(maxsize=1024)
def term_pattern(term: str, suffix: str = "") -> re.Pattern[str]:
    """A key, alias or keyword as whole words (spacing free, case-insensitive)."""
    words = r"\s+".join(re.escape(w) for w in term.split())
    return re.compile(rf"(?<!\w){words}{suffix}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Catalogue:
    lookup: dict[str, str]  # service key or alias (and the singular of a plural), to its key
    any_term: re.Pattern[str] | None  # every key and alias, longest first (None: no terms)
    long_words: tuple[str, ...]  # one-word names of 7+ letters, for typos
    digit_terms: tuple[str, ...]  # keys and aliases with a digit ("office 365")
    order: dict[str, int]  # service key -> its place in the catalogue


_CATALOGUES: dict[int, tuple[Policy, Catalogue]] = {}


def catalogue(policy: Policy) -> Catalogue:
    """The policy's service lookups, made once per policy object (policies are immutable)."""
    known = _CATALOGUES.get(id(policy))
    if known is not None and known[0] is policy:
        return known[1]
    lookup: dict[str, str] = {}
    for key, service in policy.services.items():
        for term in (key, *service.aliases):
            lookup.setdefault(norm(term), key)
    for service in policy.services.values():  # "scanner" for "scanners"
        for term in map(norm, service.aliases):
            one = term[:-1]
            if term.endswith("s") and not term.endswith("ss") and one not in _OTHER_MEANING:
                lookup.setdefault(one, service.key)
    # longest first: where names overlap ("hr portal", "portal") the longer one is taken
    terms = sorted((t for t in lookup if t), key=lambda t: (-len(t), t))
    any_term = (
        re.compile(
            r"(?<![\w@])(?:"
            + "|".join(r"\s+".join(map(re.escape, t.split())) for t in terms)
            + r")(?:'s|s)?(?![\w@]|[.]\w)",
            re.IGNORECASE,
        )
        if terms
        else None
    )
    long_words = tuple(t for t in terms if " " not in t and len(t) >= 7 and t.isalpha())
    if len(_CATALOGUES) > 8:  # policies are few: the current one and a reload or two
        _CATALOGUES.clear()
    digit_terms = tuple(
        t for s in policy.services.values() for t in (s.key, *s.aliases) if any(map(str.isdigit, t))
    )
    order = {key: i for i, key in enumerate(policy.services)}
    found = Catalogue(lookup, any_term, long_words, digit_terms, order)
    _CATALOGUES[id(policy)] = (policy, found)
    return found


def names_in(text: str, policy: Policy) -> tuple[str, ...]:
    """Every catalogue key named in the text (the longest name where names overlap)."""
    found = catalogue(policy)
    if found.any_term is None:
        return ()
    keys = {
        found.lookup.get(norm(re.sub(r"(?:'s|s)$", "", m.group(0))))
        for m in found.any_term.finditer(text)
    }
    keys |= {found.lookup.get(norm(m.group(0))) for m in found.any_term.finditer(text)}
    return tuple(k for k in policy.services if k in keys)


def unknown_services_message(unknown: tuple[str, ...], policy: Policy) -> str:
    """Why explicit service names were refused: a "did you mean" each, and what is known."""
    lookup = catalogue(policy).lookup
    said = []
    for name in unknown:
        close = difflib.get_close_matches(norm(name), list(lookup), n=1, cutoff=0.7)
        hint = f" (did you mean {lookup[close[0]]!r}?)" if close else ""
        said.append(f"{name!r}{hint}")
    known = "; ".join(
        f"{key} ({', '.join(s.aliases)})" if s.aliases else key
        for key, s in policy.services.items()
    )
    noun = "service" if len(unknown) == 1 else "services"
    return f"unknown {noun} {', '.join(said)}; the catalogue has: {known}"
