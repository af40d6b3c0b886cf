"""The stability benchmark's analysis: the monotone fit against scikit-learn's isotonic
regression, and the per-instance oracle on curves whose best counts are known."""

import numpy as np
import pytest

sklearn_isotonic = pytest.importorskip("sklearn.isotonic")

from jaxlime.bench import stability  # noqa: E402


def test_monotone_fit_matches_isotonic_regression():
  rng = np.random.default_rng(0)
  values = rng.random((40, 12))
  values[:5] = np.sort(values[:5], axis=-1)  # Already monotone: unchanged.
  values[5:10] = np.sort(values[5:10], axis=-1)[:, ::-1]  # Decreasing: the mean everywhere.
  expected = np.stack(
      [sklearn_isotonic.IsotonicRegression().fit_transform(np.arange(12), row) for row in values]
  )
  fitted = stability._monotone_fit(values)
  np.testing.assert_allclose(fitted, expected, atol=1e-12)
  np.testing.assert_allclose(fitted[:5], values[:5], atol=1e-12)
  np.testing.assert_allclose(fitted[5:10], values[5:10].mean(-1, keepdims=True) + 0 * values[5:10])


def test_per_instance_oracle_picks_each_instances_knee():
  # Instance 0 is settled from the start; instance 1 gains up to 8,000 (with a dip at 4,000
  # that the monotone fit removes: 0.68 at 2,000 and 4,000), then nothing.
  fixed = {
      1000: np.array([1.0, 0.6]),
      2000: np.array([1.0, 0.7]),
      4000: np.array([1.0, 0.66]),
      8000: np.array([1.0, 0.9]),
      16000: np.array([1.0, 0.9]),
  }
  # At 0.01 Jaccard per 1,000 evaluations, 4,000 -> 8,000 is worth its cost, 8,000 -> 16,000
  # is not: instance 1 goes to 8,000.
  found = stability.per_instance_oracle(fixed, 0.01 / 1000)
  assert found["evaluations"] == (1000 + 8000) / 2
  assert found["jaccard"] == pytest.approx((1.0 + 0.9) / 2)
  # The fitted fixed curve: 0.8 at 1,000, 0.84 at 2,000 and 4,000, 0.95 at 8,000.
  assert found["fixed_evaluations_at_equal_jaccard"] == pytest.approx(8000)
  # Too costly: both instances stay at the smallest count, which the fixed curve equals.
  cheap = stability.per_instance_oracle(fixed, 1.0 / 1000)
  assert cheap["evaluations"] == 1000
  assert cheap["fixed_evaluations_at_equal_jaccard"] == pytest.approx(1000)
