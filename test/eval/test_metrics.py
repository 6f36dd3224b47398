"""The paper's metrics on hand-computed cases, plus MNN and homography accuracy."""
import cv2
import numpy as np
import pytest

from elf_ros.eval.features import descriptor_distances, Features
from elf_ros.eval.metrics import evaluate_pair, greedy_match, mutual_nearest

SIZE = (640, 480)
SHIFT = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def onehot(rows):
    """Descriptors that are unit vectors: equal index = distance 0, else sqrt(2)."""
    out = np.zeros((len(rows), 8), np.float32)
    out[np.arange(len(rows)), rows] = 1.0
    return out


def test_greedy_matching_is_one_to_one_and_cheapest_first():
    # Nearest neighbour would give column 0 to both rows; greedy takes (1, 0) first (cost 1),
    # then row 0 gets its next choice.
    cost = np.array([[2.0, 3.0, 9.0], [1.0, 8.0, 9.0]])
    assert greedy_match(cost).tolist() == [[1, 0], [0, 1]]
    assert greedy_match(cost, threshold=2.5).tolist() == [[1, 0]]
    rng = np.random.default_rng(0)
    pairs = greedy_match(rng.random((40, 30)))
    assert len(pairs) == 30
    assert len(set(pairs[:, 0])) == 30 and len(set(pairs[:, 1])) == 30
    assert greedy_match(np.zeros((0, 3))).shape == (0, 2)


def test_mutual_nearest_uses_the_core_matcher_on_floats_and_bits():
    # Float descriptors on a line: L2 nearest neighbours 0<->0 and 2<->1; row 1 loses to row 0.
    f1 = Features([[0, 0], [1, 1], [2, 2]], np.array([[0.1], [0.2], [0.8]], np.float32))
    f2 = Features([[0, 0], [1, 1]], np.array([[0.0], [0.7]], np.float32))
    assert mutual_nearest(f1, f2).tolist() == [[0, 0], [2, 1]]
    # Packed bits compared by Hamming distance: a brute-force reference with OpenCV's norm.
    rng = np.random.default_rng(3)
    b1 = rng.integers(0, 256, (6, 32), dtype=np.uint8)
    b2 = np.vstack([b1[[4, 0, 2]] ^ np.uint8(1), rng.integers(0, 256, (3, 32), dtype=np.uint8)])
    ham = np.array([[cv2.norm(x, y, cv2.NORM_HAMMING) for y in b2] for x in b1])
    expected = [[i, int(ham[i].argmin())] for i in range(6)
                if int(ham[:, ham[i].argmin()].argmin()) == i]
    pts = np.zeros((6, 2))
    assert mutual_nearest(Features(pts, b1), Features(pts, b2)).tolist() == expected
    assert len(expected) >= 3


def test_hamming_distance_matches_opencv():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (5, 32), dtype=np.uint8)
    b = rng.integers(0, 256, (4, 32), dtype=np.uint8)
    expected = [[cv2.norm(x, y, cv2.NORM_HAMMING) for y in b] for x in a]
    np.testing.assert_array_equal(descriptor_distances(a, b), expected)


def test_repeatability_and_matching_score_by_hand():
    # H shifts by +5 px in x. Image-1 points: two repeat (within 5 px), one has no partner,
    # one lands outside image 2 and is not counted.
    kp1 = [[10, 10], [100, 100], [300, 300], [638, 50]]
    kp2 = [[15, 10], [106, 101], [400, 200]]  # (106, 101) is 1.4 px from (105, 100)
    # Descriptors: kp1[0] <-> kp2[0] agree (correct), kp1[1] looks like kp2[2] (wrong).
    f1 = Features(kp1, onehot([0, 1, 2, 3]))
    f2 = Features(kp2, onehot([0, 2, 1]))
    s = evaluate_pair(f1, f2, SHIFT, SIZE, SIZE)
    assert (s.common1, s.common2) == (3, 3)
    assert s.geometric_matches == 2
    assert s.repeatability == pytest.approx(2 / 3)
    # Descriptor greedy matching: (0,0) and (1,2) and (2,1) at cost 0; only (0,0) is geometric.
    assert s.ms_matches == 1
    assert s.matching_score == pytest.approx(1 / 3)
    assert s.mnn_matching_score == pytest.approx(1 / 3)
    assert s.mnn_precision == pytest.approx(1 / 3)


def test_metrics_with_negative_h22_equal_normalised():
    rng = np.random.default_rng(2)
    kp1 = rng.uniform(0, 600, (50, 2))
    h = np.array([[0.9, 0.05, 12.0], [-0.04, 0.95, 8.0], [1e-5, -2e-5, 1.0]])
    proj = cv2.perspectiveTransform(kp1[None], h)[0] + rng.normal(0, 1.0, (50, 2))
    desc = rng.normal(size=(50, 16)).astype(np.float32)
    f1, f2 = Features(kp1, desc), Features(proj, desc + 0.01)
    a = evaluate_pair(f1, f2, h, SIZE, SIZE)
    b = evaluate_pair(f1, f2, -2.5 * h, SIZE, SIZE)  # H[2,2] = -2.5
    hb = b.as_dict().pop('homography_error')
    assert {**a.as_dict(), 'homography_error': hb} == b.as_dict()
    assert a.homography_error == pytest.approx(hb)
    assert a.repeatability > 0.9 and a.matching_score > 0.9
    assert a.homography_error < 3.0


def test_pixel_threshold_is_inclusive_5px():
    f1 = Features([[100, 100]], onehot([0]))
    assert evaluate_pair(f1, Features([[108, 104]], onehot([0])), SHIFT, SIZE,
                         SIZE).repeatability == 1.0  # 5 px away exactly (3-4-5)
    assert evaluate_pair(f1, Features([[108.1, 104]], onehot([0])), SHIFT, SIZE,
                         SIZE).repeatability == 0.0


def test_method_that_finds_nothing_scores_zero():
    full = Features([[10, 10], [50, 60]], onehot([0, 1]))
    for f1, f2 in ((Features.empty(), full), (full, Features.empty()),
                   (Features.empty(), Features.empty())):
        s = evaluate_pair(f1, f2, np.eye(3), SIZE, SIZE)
        assert s.repeatability == s.matching_score == s.mnn_matching_score == 0.0
        assert s.homography_error == float('inf')


def test_keypoints_outside_the_other_image_do_not_count():
    # Every image-1 keypoint lands outside image 2: nothing to compare, score 0 (not NaN).
    far = np.array([[1.0, 0.0, 1000.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    f = Features([[10, 10], [20, 20]], onehot([0, 1]))
    s = evaluate_pair(f, f, far, SIZE, SIZE)
    assert (s.common1, s.common2, s.repeatability) == (0, 0, 0.0)


def test_correct_matches_are_mnn_matches_within_the_threshold():
    # Five image-1 points far apart; image 2 has each one's true position (H: +5 px in x) moved
    # by 0, 3, 5 (inclusive: correct), 5.5 and 40 px (wrong), plus a point no descriptor likes.
    kp1 = np.array([[50, 50], [200, 60], [350, 300], [100, 400], [500, 200]], float)
    offsets = np.array([[0, 0], [3, 0], [3, 4], [5.5, 0], [0, 40]], float)
    kp2 = np.vstack([kp1 + [5, 0] + offsets, [[600, 450]]])
    f1 = Features(kp1, onehot([0, 1, 2, 3, 4]))
    d2 = np.vstack([onehot([0, 1, 2, 3, 4]), np.full((1, 8), 0.35, np.float32)])
    s = evaluate_pair(f1, Features(kp2, d2), SHIFT, SIZE, SIZE)
    assert (s.mnn_matches, s.mnn_correct) == (5, 3)
    assert s.mnn_precision == pytest.approx(3 / 5)
    assert s.mnn_matching_score == pytest.approx(3 / 5)  # / min(N1, N2) = / 5
    # Localisation of the three correct ones: 0, 3 and 5 px from the truth.
    assert (s.mnn_within_1px, s.mnn_error_median) == (1, pytest.approx(3.0))


def test_correct_matches_do_not_reward_keeping_few_points():
    # 3 perfect keypoints give rep = MS = 1; 60 keypoints of which 40 match give rep 2/3 but
    # 40 correct matches: the count is what a user feels.
    rng = np.random.default_rng(5)
    grid = np.stack(np.meshgrid(np.arange(20, 600, 60), np.arange(20, 440, 70)), -1).reshape(-1, 2)
    kp1 = grid[:60].astype(float)
    kp2 = kp1 + [5, 0]
    kp2[40:] += rng.uniform(20, 25, (20, 2))  # the last 20 land 20+ px from their partner
    desc = rng.normal(size=(60, 16)).astype(np.float32)
    few = evaluate_pair(Features(kp1[:3], desc[:3]), Features(kp2[:3], desc[:3]), SHIFT, SIZE,
                        SIZE)
    many = evaluate_pair(Features(kp1, desc), Features(kp2, desc), SHIFT, SIZE, SIZE)
    assert few.repeatability == few.matching_score == 1.0 and few.mnn_correct == 3
    assert many.repeatability < 0.7 and many.mnn_correct == 40
