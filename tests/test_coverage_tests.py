"""Kupiec and Christoffersen tests on known hit sequences: hand-computed LR statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from forecast.evaluation.coverage import (
    christoffersen_independence,
    coverage_test,
    coverage_test_h,
    every_hth,
    kupiec,
    transition_counts,
)


def sequence(hits_at: list[int], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=int)
    out[hits_at] = 1
    return out


def test_kupiec_textbook_values():
    # 250 days of a 1% VaR with 5 exceptions: 2 [5 ln(0.02/0.01) + 245 ln(0.98/0.99)]
    lr, p = kupiec(sequence([10, 60, 110, 160, 210], 250), 0.01)
    assert lr == pytest.approx(1.956809788, abs=1e-8)
    assert p == pytest.approx(stats.chi2.sf(1.956809788, 1), abs=1e-9)
    assert p > 0.05  # 5 exceptions in 250 days are within the 1% model's range
    # 8 exceptions: 2 [8 ln(0.032/0.01) + 242 ln(0.968/0.99)] = 7.73: rejected at 1%
    lr, p = kupiec(sequence(list(range(0, 240, 30)), 250), 0.01)
    assert lr == pytest.approx(7.733550724, abs=1e-8)
    assert p < 0.01
    # exactly the expected rate: LR = 0, p = 1
    assert kupiec(sequence(list(range(0, 100, 20)), 100), 0.05) == (0.0, 1.0)


def test_kupiec_degenerate_sequences():
    lr, p = kupiec(np.zeros(250, dtype=int), 0.01)  # no hits: -2 n ln(1 - p)
    assert lr == pytest.approx(-2 * 250 * math.log(0.99), abs=1e-10)
    assert lr == pytest.approx(5.025167927, abs=1e-8) and p < 0.05
    lr, _ = kupiec(np.ones(10, dtype=int), 0.05)  # all hits: -2 n ln(p)
    assert lr == pytest.approx(59.914645471, abs=1e-8)
    assert all(math.isnan(v) for v in kupiec(np.array([], dtype=int), 0.05))


def test_christoffersen_independence_hand_values():
    # transitions n00=4, n01=2, n10=2, n11=1: pi01 = pi11 = pi = 1/3, so LR_ind = 0
    h = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    assert transition_counts(h) == (4, 2, 2, 1)
    lr, p = christoffersen_independence(h)
    assert lr == pytest.approx(0.0, abs=1e-12) and p == pytest.approx(1.0)
    # clustered: n00=5, n01=1, n10=1, n11=2; pi01=1/6, pi11=2/3, pi=1/3
    h = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    assert transition_counts(h) == (5, 1, 1, 2)
    markov = 5 * math.log(5 / 6) + math.log(1 / 6) + math.log(1 / 3) + 2 * math.log(2 / 3)
    iid = 6 * math.log(2 / 3) + 3 * math.log(1 / 3)
    lr, p = christoffersen_independence(h)
    assert lr == pytest.approx(2 * (markov - iid), abs=1e-12)
    assert lr == pytest.approx(2.231435513, abs=1e-8)
    assert p == pytest.approx(stats.chi2.sf(2.231435513, 1), abs=1e-9)


def test_christoffersen_degenerate_sequences():
    assert christoffersen_independence(np.zeros(50, dtype=int)) == (0.0, 1.0)  # no hits
    assert christoffersen_independence(np.ones(50, dtype=int)) == (0.0, 1.0)  # all hits
    # a single hit at the end: no 1 -> * transition, its terms drop out
    lr, _ = christoffersen_independence(sequence([9], 10))
    assert lr == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(v) for v in christoffersen_independence(np.array([1])))


def test_conditional_coverage_is_the_sum_with_two_dof():
    h = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    test = coverage_test(h, 0.1)
    lr_uc, _ = kupiec(h, 0.1)
    assert test.lr_cc == pytest.approx(lr_uc + 2.231435513, abs=1e-8)
    assert test.p_cc == pytest.approx(stats.chi2.sf(test.lr_cc, 2))
    assert (test.n, test.hits, test.rate, test.expected) == (10, 3, 0.3, 0.1)
    empty = coverage_test(np.array([], dtype=int), 0.1)
    assert empty.n == 0 and math.isnan(empty.p_uc) and math.isnan(empty.p_cc)


def test_every_hth_origin_for_overlapping_targets():
    np.testing.assert_array_equal(every_hth(np.arange(10), 5), [0, 5])
    np.testing.assert_array_equal(every_hth(np.arange(10), 5, offset=2), [2, 7])
    np.testing.assert_array_equal(every_hth(np.arange(4), 1), np.arange(4))
    # overlapping 5-day misses come in runs of 5; thinned they are one miss each
    runs = np.repeat([0, 1, 0, 0, 1, 0, 0, 0], 5)
    assert coverage_test_h(runs, 0.25, 5).hits == 2 and coverage_test_h(runs, 0.25, 5).n == 8
    assert coverage_test_h(runs, 0.25, 5).lr_ind < coverage_test(runs, 0.25).lr_ind
    with pytest.raises(ValueError, match="horizon must be an integer >= 1; got 0"):
        every_hth(np.arange(3), 0)
    with pytest.raises(ValueError, match=r"offset must be an integer in \[0, 5\); got 5"):
        every_hth(np.arange(3), 5, offset=5)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"hits must hold only 0 and 1; 1 values do not"):
        kupiec(np.array([0, 2, 1]), 0.05)
    with pytest.raises(ValueError, match=r"p must be a probability in \(0, 1\); got 0"):
        kupiec(np.array([0, 1]), 0)
    with pytest.raises(ValueError, match="hits must be one-dimensional"):
        coverage_test(np.zeros((2, 2), dtype=int), 0.05)
