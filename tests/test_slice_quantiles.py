"""The slice index behind size buckets and percentile ranks answers as numpy does on each slice."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streamliq.engine.features.quantiles import SliceQuantiles, sorted_slices_quantile

# few distinct values, so slices hold ties; 0.1 * 3 and 0.3 differ in the last bit
VALUES = st.lists(st.sampled_from([0.3, 0.1 * 3, 1.0, 2.5, 60000.0, 1e-9, 7.0]), min_size=1, max_size=60)


@st.composite
def segmented_slices(draw):
    """Values cut into segments, and slices that stay inside one segment."""
    values = np.array(draw(VALUES))
    cuts = sorted(set(draw(st.lists(st.integers(1, len(values) - 1), max_size=4)) if len(values) > 1 else []))
    starts = np.array([0, *cuts])
    ends = np.append(starts[1:], len(values))
    slices = []
    for _ in range(draw(st.integers(1, 20))):
        segment = draw(st.integers(0, len(starts) - 1))
        lo = draw(st.integers(int(starts[segment]), int(ends[segment]) - 1))
        hi = draw(st.integers(lo + 1, int(ends[segment])))
        slices.append((lo, hi, segment))
    return values, starts, np.array(slices)


@settings(max_examples=200, deadline=None)
@given(segmented_slices(), st.sampled_from([0.0, 0.5, 0.9, 0.995, 1.0]))
def test_quantile_of_every_slice_is_numpys_to_the_bit(case, q):
    values, starts, slices = case
    lo, hi = slices[:, 0], slices[:, 1]
    expected = [np.quantile(values[a:b], q) for a, b in zip(lo, hi, strict=True)]
    assert SliceQuantiles(values, starts).quantile(lo, hi, q).tolist() == expected
    assert sorted_slices_quantile(values, lo, hi, q).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(segmented_slices(), st.data())
def test_counts_below_and_equal_to_a_value_of_the_segment(case, data):
    values, starts, slices = case
    ends = np.append(starts[1:], len(values))
    lo, hi, segment = slices[:, 0], slices[:, 1], slices[:, 2]
    probe = np.array([data.draw(st.integers(int(starts[s]), int(ends[s]) - 1)) for s in segment])
    index = SliceQuantiles(values, starts)
    below, at_most = index.rank_bounds()
    v = values[probe]
    assert index.count_below(lo, hi, below[probe]).tolist() == [
        int((values[a:b] < x).sum()) for a, b, x in zip(lo, hi, v, strict=True)]
    assert index.count_below(lo, hi, at_most[probe]).tolist() == [
        int((values[a:b] <= x).sum()) for a, b, x in zip(lo, hi, v, strict=True)]
