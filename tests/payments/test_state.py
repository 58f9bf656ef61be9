from hypothesis import given
from hypothesis import strategies as st

from indiepay.channels.base import TradeState
from indiepay.payments import state


def test_pending_moves_on_every_definite_channel_state() -> None:
    assert state.transition_for("pending", TradeState.SUCCEEDED) == state.Transition("pending", "succeeded", False)
    assert state.transition_for("pending", TradeState.CLOSED) == state.Transition("pending", "closed", False)
    assert state.transition_for("pending", TradeState.FAILED) == state.Transition("pending", "failed", False)
    assert state.transition_for("pending", TradeState.PENDING) is None
    assert state.transition_for("pending", TradeState.NOT_FOUND) is None


def test_money_after_close_is_a_late_payment_never_ignored() -> None:
    assert state.transition_for("closed", TradeState.SUCCEEDED) == state.Transition("closed", "succeeded", True)
    assert state.transition_for("failed", TradeState.SUCCEEDED) == state.Transition("failed", "succeeded", True)


def test_succeeded_is_final() -> None:
    for seen in TradeState:
        assert state.transition_for("succeeded", seen) is None


@given(st.lists(st.sampled_from(list(TradeState)), max_size=30))
def test_any_sequence_of_channel_reports_stays_in_the_state_machine(reports: list[TradeState]) -> None:
    current = "pending"
    paid_transitions = 0
    for seen in reports:
        transition = state.transition_for(current, seen)
        if transition is not None:
            assert state.can_transition(current, transition.to_status)
            current = transition.to_status
            paid_transitions += transition.to_status == "succeeded"
    assert paid_transitions <= 1
    if TradeState.SUCCEEDED in reports:
        assert current == "succeeded"


def test_query_backoff_grows_then_stays_hourly() -> None:
    delays = [state.next_query_delay(n) for n in range(20)]
    assert delays == sorted(delays)
    assert delays[0] == 15 and delays[-1] == 3600
