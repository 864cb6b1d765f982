"""The one pan law, its inverse, histograms, peak picking and names (shotoku.panning)."""

import numpy as np
import pytest

from shotoku import panning
from shotoku.errors import ParameterError


@pytest.mark.parametrize("angle", [-45.0, -30.0, -7.5, 0.0, 12.0, 45.0])
def test_law_is_constant_power_and_inverts(angle):
    left, right = panning.pan_gains(angle)
    assert left ** 2 + right ** 2 == pytest.approx(1.0, abs=1e-12)
    assert float(panning.angle_of(left, right)) == pytest.approx(angle, abs=1e-9)
    assert float(panning.phi_to_angle(panning.angle_to_phi(angle))) == pytest.approx(angle, abs=1e-9)
    image = panning.pan(np.ones(16, np.float32), angle)
    assert image.shape == (2, 16) and image.dtype == np.float32


def test_law_refuses_angles_outside_the_field():
    for bad in (-46, 45.5, np.nan, "left"):
        with pytest.raises(ParameterError):
            panning.pan_gains(bad)
    assert panning.pan_gains(-45) == (1.0, 0.0) and panning.pan_gains(45) == (0.0, 1.0)
    assert panning.midi_angle(0) == -45.0 and panning.midi_angle(127) == 45.0


def test_bin_angles_read_a_panned_spectrum():
    X = np.zeros((2, 3, 4), np.complex64)
    for angle, k in ((-30.0, 0), (10.0, 1)):
        X[:, k] = np.array(panning.pan_gains(angle))[:, None]
    ang = panning.bin_angles(X)
    assert np.allclose(ang[0], -30.0, atol=1e-3) and np.allclose(ang[1], 10.0, atol=1e-3)
    assert np.allclose(ang[2], 0.0)  # silent bins read as centre


def test_pick_peaks_separation_and_fallback():
    grid = panning.HIST_CENTRES
    bump = lambda at, height: height * np.exp(-0.5 * ((grid - at) / 0.7) ** 2)  # noqa: E731
    hist = bump(-20, 1.0) + bump(-17, 0.9) + bump(10, 0.8)
    # -17 is stronger than 10 but closer than 5° to -20
    peaks = grid[panning.pick_peaks(hist, 2, 5.0 / panning.HIST_STEP)]
    assert np.allclose(peaks, [-20, 10], atol=0.5)
    # one peak only: the others go where they are farthest from it, all distinct
    one = np.exp(-0.5 * (grid / 2) ** 2)
    peaks = grid[panning.pick_peaks(one, 3, 5.0 / panning.HIST_STEP)]
    assert len(np.unique(peaks)) == 3 and 0.0 in peaks
    assert np.all(np.diff(peaks) >= 5.0)


def test_positions_from_weighted_angles_and_silence():
    rng = np.random.default_rng(0)
    angles = np.concatenate([rng.normal(-30, 0.3, 500), rng.normal(15, 0.3, 300)])
    found = panning.positions(angles, np.ones_like(angles), 2)
    assert np.allclose(found, [-30, 15], atol=0.6)
    spread = panning.positions(angles, np.zeros_like(angles), 3)
    assert np.allclose(spread, [-22.5, 0, 22.5])


def test_position_names():
    assert panning.position_name(1, -29.7) == "object_1 (-30°)"
    assert panning.position_name(3, -0.2) == "object_3 (0°)"
    assert panning.position_name(2, 10, delay=1.5) == "object_2 (10°, delay 1.5 samples)"
