"""The one diverging colour scale equals matplotlib's ``RdBu_r`` (the independent reference)."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from convrec.vision.colours import DIVERGING_CMAP, DIVERGING_STOPS, diverging_bound, diverging_rgb


def test_the_stops_are_matplotlibs_map_sampled_at_eleven_points() -> None:
    cmap = mpl.colormaps[DIVERGING_CMAP]
    assert [mpl.colors.to_hex(cmap(i / 10)) for i in range(11)] == list(DIVERGING_STOPS)


def test_values_are_coloured_like_matplotlib_within_four_levels() -> None:
    values = np.linspace(-3.0, 3.0, 97)
    ours = diverging_rgb(values, bound=3.0).astype(int)  # (97, 3)
    theirs = np.round(mpl.colormaps[DIVERGING_CMAP](values / 6 + 0.5)[:, :3] * 255).astype(int)
    # matplotlib looks values up in a 256-entry table, we interpolate: a few levels apart
    assert np.abs(ours - theirs).max() <= 4
    assert diverging_rgb([0.0]).tolist() == [[247, 246, 246]]  # 0 is (near) white
    assert diverging_rgb([[5.0, -5.0]], bound=1.0).shape == (1, 2, 3)


def test_the_range_is_symmetric_and_never_zero() -> None:
    assert diverging_bound([-2.0, 0.5]) == 2.0
    assert diverging_bound(np.zeros((3, 3))) == 1.0
