from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indiepay.core.errors import InvalidRequest
from indiepay.core.money import fen_to_yuan, yuan_to_fen, yuan_to_fen_rounded


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_fen_round_trips_through_yuan_text(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@given(st.integers(min_value=0, max_value=10**12))
def test_yuan_text_has_exactly_two_decimals(fen: int) -> None:
    text = fen_to_yuan(fen)
    assert Decimal(text) * 100 == fen
    assert len(text.split(".")[1]) == 2


@pytest.mark.parametrize("text", ["0.001", "abc", "", "NaN", "Infinity", "1e-3", "1e999999", "-1e999999", "1e-999999"])
def test_bad_yuan_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        yuan_to_fen(text)
    assert info.value.code == "invalid_amount"


def test_bill_fees_with_five_decimals_round_half_up() -> None:
    assert yuan_to_fen_rounded("0.00500") == 1
    assert yuan_to_fen_rounded("0.00499") == 0
    assert yuan_to_fen_rounded("12.34567") == 1235
    assert fen_to_yuan(1) == "0.01" and fen_to_yuan(-150) == "-1.50"
