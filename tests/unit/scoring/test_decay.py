"""Decayed counters: exact buckets, deterministic folding, order independence."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.decay import CAP, EMPTY, LN2, SCALE, Series, day_of

HALF_LIVES = (7.0, 28.0)


def test_day_of_is_the_utc_day_index() -> None:
    assert day_of(0.0) == 0
    assert day_of(86_399.9) == 0
    assert day_of(86_400.0) == 1


@pytest.mark.parametrize(
    ("age_days", "half_life", "expected"),
    [(0, 7.0, 10.0), (7, 7.0, 5.0), (14, 7.0, 2.5), (28, 28.0, 5.0), (56, 28.0, 2.5)],
)
def test_a_bucket_halves_every_half_life(age_days: int, half_life: float, expected: float) -> None:
    s = EMPTY.add(100, 10.0)
    assert s.value(100 + age_days, 0, half_life) == pytest.approx(expected)


@pytest.mark.parametrize("seal_offset", [0, 1, 5, 50])
def test_folding_does_not_change_the_value(seal_offset: int) -> None:
    s = EMPTY.add(100, 3.0).add(101, 4.0).add(103, 5.0)
    folded = s.fold(100 + seal_offset, HALF_LIVES)
    for i, h in enumerate(HALF_LIVES):
        assert folded.value(160, i, h) == pytest.approx(s.value(160, i, h), rel=1e-6)


def test_fold_keeps_open_days_and_moves_the_anchor() -> None:
    s = EMPTY.add(100, 1.0).add(102, 2.0).fold(102, HALF_LIVES)
    assert s.anchor == 100
    assert s.recent == ((102, 2 * SCALE),)
    assert len(s.folded) == len(HALF_LIVES)


def test_rate_of_a_steady_stream_is_its_daily_amount() -> None:
    s = EMPTY
    for day in range(400):
        s = s.add(day, 2.0).fold(day - 2, HALF_LIVES)
    assert s.rate(399, 0, 7.0) == pytest.approx(2.0 * (LN2 / 7) / (1 - 2 ** (-1 / 7)), rel=1e-5)
    # day resolution: a steady stream reads as 2/day within the discretisation error
    assert s.rate(399, 1, 28.0) == pytest.approx(2.0, rel=0.02)


def test_buckets_saturate_instead_of_overflowing() -> None:
    s = EMPTY.add(1, 1e9)
    for _ in range(20):
        s = s.add(1, 1e15)
    assert s.recent[0][1] == CAP


def test_empty() -> None:
    assert EMPTY.is_empty
    assert not EMPTY.add(1, 0.0).is_empty
    assert EMPTY.value(10, 0, 7.0) == 0.0


amounts = st.lists(
    st.tuples(st.integers(0, 60), st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
    min_size=1,
    max_size=40,
)


@given(amounts, st.randoms(use_true_random=False))
def test_any_order_of_adds_and_folds_gives_the_same_series(
    items: list[tuple[int, float]], rnd: object
) -> None:
    """Folding a day only once it is sealed makes the result order-independent."""
    assert isinstance(rnd, random.Random)
    lateness = 3

    def build(seq: list[tuple[int, float]]) -> Series:
        s, watermark = EMPTY, -math.inf
        for day, amount in seq:
            if day < watermark - lateness:
                continue  # too late: refused in both orders by construction below
            watermark = max(watermark, day)
            s = s.add(day, amount).fold(int(watermark) - lateness, HALF_LIVES)
        return s

    in_order = sorted(items)
    shuffled = sorted(items, key=lambda it: it[0] + rnd.uniform(0, lateness))
    assert build(in_order) == build(shuffled)
