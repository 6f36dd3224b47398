"""The steadiness measurement: its moved views, its pooling, and its command line."""
import json

import cv2
import numpy as np
import pytest

from elf_ros.eval.steadiness import moved_pair, steadiness
from elf_ros.eval.steadiness.cli import main


def photo(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.random((30, 40)).astype(np.float32), (168, 128),
                     interpolation=cv2.INTER_CUBIC)
    return (255 * (img - img.min()) / (img.max() - img.min())).astype(np.uint8)


def test_a_whole_pixel_move_is_a_crop_and_a_half_pixel_move_the_mean_of_neighbours():
    base, moved = moved_pair(photo(), (1.0, 0.0), (80, 60))
    np.testing.assert_array_equal(moved[:, :-1], base[:, 1:])
    _base, half = moved_pair(photo(), (0.5, 0.0), (80, 60))
    mean = (base[:, :-1].astype(float) + base[:, 1:]) / 2
    assert np.abs(half[:, :-1] - mean).max() <= 1.0


def brightest(img: np.ndarray) -> np.ndarray:
    """Return the 20 brightest pixels of the blurred image off its border (they follow it)."""
    blurred = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2)
    inner = np.full_like(blurred, -1.0)
    inner[10:-10, 10:-10] = blurred[10:-10, 10:-10]
    blurred = inner
    y, x = np.unravel_index(np.argsort(blurred.ravel())[-20:], blurred.shape)
    return np.stack([x, y], axis=1).astype(np.float64)


@pytest.mark.parametrize('shift', [(1.0, 0.0), (1.0, 1.0), (2.0, 0.0)])
def test_a_detector_that_follows_the_image_is_found_again_at_zero_offset(shift):
    result = steadiness(brightest, [photo(1), photo(2)], shift, (96, 72))
    assert result.keypoints == 40 and result.found == 1.0 and result.offset_median == 0.0


def test_a_detector_stuck_to_the_pixel_grid_is_off_by_the_move():
    def stuck(img):
        return np.array([[20.0, 20.0], [40.0, 30.0], [60.0, 50.0]])
    result = steadiness(stuck, [photo()], (1.0, 1.0), (96, 72))
    assert result.found == 1.0 and result.offset_median == pytest.approx(np.sqrt(2))
    far = steadiness(stuck, [photo()], (2.0, 2.0), (96, 72))
    assert far.found == 0.0 and np.isnan(far.offset_median)


def test_command_line_writes_a_row_per_method_and_move(tmp_path):
    path = tmp_path / 'photo.png'
    cv2.imwrite(str(path), cv2.resize(photo(3), (320, 240)))
    assert main(['--image', str(path), '--methods', 'sift,orb', '--size', '160x120',
                 '--out', str(tmp_path / 'out')]) == 0
    rows = json.loads((tmp_path / 'out' / 'results.json').read_text())['rows']
    assert len(rows) == 2 * 5 and {r['method'] for r in rows} == {'sift', 'orb'}
    whole = [r for r in rows if r['method'] == 'sift' and (r['dx'], r['dy']) == (1.0, 0.0)][0]
    assert whole['found'] > 0.9 and whole['offset_median'] < 0.05
    assert '| sift | (0.5, 0.5) |' in (tmp_path / 'out' / 'results.md').read_text()


def test_command_line_refuses_a_bad_field(tmp_path):
    path = tmp_path / 'photo.png'
    cv2.imwrite(str(path), photo())
    assert main(['--image', str(path), '--elf-set', 'nms_radius=-1',
                 '--out', str(tmp_path / 'out')]) == 2
