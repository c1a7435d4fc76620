"""The slice index behind size buckets and percentile ranks answers as numpy does on each slice."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streamliq.engine.features.quantiles import SliceQuantiles

# few distinct values, so slices hold ties; 0.1 * 3 and 0.3 differ in the last bit
VALUES = st.lists(st.sampled_from([0.3, 0.1 * 3, 1.0, 2.5, 60000.0, 1e-9, 7.0]), min_size=1, max_size=60)


@st.composite
def slices(draw):
    values = np.array(draw(VALUES))
    pairs = draw(st.lists(st.tuples(st.integers(0, len(values) - 1), st.integers(1, len(values))),
                          min_size=1, max_size=20))
    lo = np.array([min(a, b - 1) for a, b in pairs])
    hi = np.array([max(a + 1, b) for a, b in pairs])
    return values, lo, hi


@settings(max_examples=200, deadline=None)
@given(slices(), st.sampled_from([0.0, 0.5, 0.9, 0.995, 1.0]))
def test_quantile_of_every_slice_is_numpys_to_the_bit(case, q):
    values, lo, hi = case
    got = SliceQuantiles(values).quantile(lo, hi, q)
    expected = [np.quantile(values[a:b], q) for a, b in zip(lo, hi, strict=True)]
    assert got.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(slices(), st.sampled_from([0.0, 0.3, 0.1 * 3, 1.0, 7.0, 60000.0, 1e6]))
def test_count_below_counts_smaller_and_equal_values(case, v):
    values, lo, hi = case
    index = SliceQuantiles(values)
    probe = np.full(len(lo), v)
    below = index.count_below(lo, hi, probe)
    at_most = index.count_below(lo, hi, probe, inclusive=True)
    assert below.tolist() == [int((values[a:b] < v).sum()) for a, b in zip(lo, hi, strict=True)]
    assert at_most.tolist() == [int((values[a:b] <= v).sum()) for a, b in zip(lo, hi, strict=True)]
