"""Tests for the GB 32100-2015 unified social credit code check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.uscc import ALPHABET, check_char, make_uscc, normalize_uscc, org_code_check, validate_uscc

_chars = st.sampled_from(ALPHABET)


def _text(length: int) -> st.SearchStrategy[str]:
    return st.text(_chars, min_size=length, max_size=length)


@pytest.mark.parametrize("code", ["53100000500019795A", "51310110501144395U", "91350100M000100Y43"])
def test_public_codes_are_valid(code: str) -> None:
    assert validate_uscc(code) is None


def test_check_characters_of_a_public_code() -> None:
    assert check_char("53100000500019795") == "A"
    assert org_code_check("50001979") == "5"


def test_org_code_check_maps_ten_to_x_and_eleven_to_zero() -> None:
    # 4 at weight 3 sums to 12 = 1 (mod 11): 11 - 1 = 10 -> X; a sum of 0 gives 11 -> 0.
    assert org_code_check("40000000") == "X"
    assert org_code_check("00000000") == "0"


def test_org_code_letters_count_from_ten() -> None:
    # 'A' = 10 at weight 3 -> sum 30 -> 30 mod 11 = 8 -> check 3.
    assert org_code_check("A0000000") == "3"
    # 'Y' = 34 at weight 2 -> 68 mod 11 = 2 -> check 9.
    assert org_code_check("0000000Y") == "9"


@given(_text(2), _text(6), _text(8))
def test_made_codes_validate(prefix: str, division: str, org: str) -> None:
    code = make_uscc(prefix, division, org)
    assert len(code) == 18
    assert code.startswith(prefix + division + org)
    assert validate_uscc(code) is None


@given(_text(2), _text(6), _text(8), st.integers(0, 17), _chars)
def test_any_single_substitution_is_detected(
    prefix: str, division: str, org: str, position: int, replacement: str
) -> None:
    code = make_uscc(prefix, division, org)
    if code[position] == replacement:
        return
    changed = code[:position] + replacement + code[position + 1 :]
    reason = validate_uscc(changed)
    assert reason is not None
    assert "check character should be" in reason


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("53100000500019795", "must be 18 characters"),
        ("53100000500019795AA", "must be 18 characters"),
        ("", "must be 18 characters"),
        ("5310I000500019795A", "character 5 'I' is not allowed"),
        ("53100000O00019795A", "character 9 'O' is not allowed"),
        ("S3100000500019795A", "character 1 'S' is not allowed"),
        ("5310000050001979VA", "character 17 'V' is not allowed"),
        ("53100000500019795Z", "character 18 'Z' is not allowed"),
        ("53100000500019795a", "character 18 'a' is not allowed"),
        ("53100000500019795B", "check character should be 'A'"),
    ],
)
def test_invalid_codes_give_a_reason(code: str, reason: str) -> None:
    assert validate_uscc(code) == reason


def test_wrong_org_check_is_reported_when_the_overall_check_still_matches() -> None:
    assert org_code_check("MJ00012A") == "7"
    first17 = "52339901MJ00012A" + "3"
    code = first17 + check_char(first17)
    assert validate_uscc(code) == "organization code check character should be '7'"


@pytest.mark.parametrize("prefix", ["N2", "A1", "Y1"])
def test_letter_led_codes_are_valid(prefix: str) -> None:
    code = make_uscc(prefix, "339903", "MA2B7K9Q")
    assert code[0].isalpha()
    assert validate_uscc(code) is None


def test_make_uscc_rejects_bad_parts() -> None:
    with pytest.raises(ValueError, match="division6"):
        make_uscc("52", "33990", "MA2B7K9Q")
    with pytest.raises(ValueError, match="org8"):
        make_uscc("52", "339901", "MA2B7K9O")


def test_check_char_rejects_what_it_cannot_weigh() -> None:
    with pytest.raises(ValueError):
        check_char("5310000050001979")
    with pytest.raises(ValueError):
        check_char("5310000050001979O")


def test_normalize_strips_and_upper_cases() -> None:
    assert normalize_uscc("  53100000500019795a \n") == "53100000500019795A"
    # Full-width characters from a Chinese input method.
    assert normalize_uscc("５３１０００００５０００１９７９５Ａ") == "53100000500019795A"
    assert validate_uscc(normalize_uscc(" 51310110501144395u ")) is None
