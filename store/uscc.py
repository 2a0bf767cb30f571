"""Unified social credit code (GB 32100-2015): normalization, validation and construction."""

from __future__ import annotations

import unicodedata

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {c: i for i, c in enumerate(ALPHABET)}
# Weights 3^(i-1) mod 31 for positions 1..17.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_LENGTH = 18


def normalize_uscc(code: str) -> str:
    """Turns typed input (spaces, lower case, full-width characters) into the canonical form."""
    # NFKC folds full-width digits and letters that Chinese input methods produce.
    return unicodedata.normalize("NFKC", code).strip().upper()


def check_char(first17: str) -> str:
    """The 18th character for the given first 17 characters (all from ALPHABET)."""
    if len(first17) != _LENGTH - 1 or any(c not in _VALUES for c in first17):
        raise ValueError(f"expected 17 characters of {ALPHABET}: {first17!r}")
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_code_check(code8: str) -> str:
    """The GB 11714 organization code check character for its first 8 characters."""
    if len(code8) != 8:
        raise ValueError(f"expected 8 characters, got {len(code8)}")
    # int(c, 36) gives 0-9 for digits and A=10 .. Z=35 for letters, as GB 11714 specifies.
    total = sum(int(c, 36) * w for c, w in zip(code8, _ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    if c == 10:
        return "X"
    if c == 11:
        return "0"
    return str(c)


def validate_uscc(code: str) -> str | None:
    """None when ``code`` is a valid USCC exactly as given, else the reason in English."""
    if len(code) != _LENGTH:
        return "must be 18 characters"
    for position, c in enumerate(code, start=1):
        if c not in _VALUES:
            return f"character {position} {c!r} is not allowed"
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"check character should be {expected!r}"
    expected_org = org_code_check(code[8:16])
    if code[16] != expected_org:
        return f"organization code check character should be {expected_org!r}"
    return None


def make_uscc(prefix2: str, division6: str, org8: str) -> str:
    """Builds a valid code from authority+category, division code and the organization code body."""
    parts = ((prefix2, 2, "prefix2"), (division6, 6, "division6"), (org8, 8, "org8"))
    for value, length, name in parts:
        if len(value) != length or any(c not in _VALUES for c in value):
            raise ValueError(f"{name} must be {length} characters of {ALPHABET}: {value!r}")
    first17 = prefix2 + division6 + org8 + org_code_check(org8)
    return first17 + check_char(first17)
