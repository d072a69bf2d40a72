"""The simulation's percentile gives the very double numpy's percentile gives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.percentile import percentile

QS = st.one_of(
    st.sampled_from([0, 1, 25, 50, 90, 95, 99, 99.9, 100]),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)


@given(st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=300), QS)
def test_matches_numpy_bit_for_bit(values: list[int], q: float) -> None:
    want = float(np.percentile(values, q))
    got = percentile(values, q)
    assert got.hex() == want.hex()


@given(st.lists(st.integers(0, 40), min_size=1, max_size=5000))
def test_matches_numpy_on_gaps_like_the_simulations(values: list[int]) -> None:
    """Many ties among few whole days, as the p99 gap sees them."""
    assert percentile(values, 99).hex() == float(np.percentile(values, 99)).hex()


def test_refuses_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 99)
    with pytest.raises(ValueError, match="not in"):
        percentile([1, 2], 100.5)
