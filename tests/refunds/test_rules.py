from hypothesis import given
from hypothesis import strategies as st

from indiepay.refunds import rules


def test_refund_bounds() -> None:
    assert rules.decide(payment_status="succeeded", amount=1000, reserved=0, requested=1000).allowed
    assert rules.decide(payment_status="succeeded", amount=1000, reserved=400, requested=601).code == \
        "refund_exceeds_refundable"
    assert rules.decide(payment_status="pending", amount=1000, reserved=0, requested=1).code == \
        "payment_not_refundable"


@given(amount=st.integers(1, 10**9), requests=st.lists(st.integers(1, 10**9), max_size=40))
def test_sequential_refunds_never_exceed_the_payment(amount: int, requests: list[int]) -> None:
    reserved = 0
    for requested in requests:
        decision = rules.decide(payment_status="succeeded", amount=amount, reserved=reserved, requested=requested)
        if decision.allowed:
            reserved += requested
        assert 0 <= reserved <= amount
        assert rules.refundable(amount, reserved) == amount - reserved
