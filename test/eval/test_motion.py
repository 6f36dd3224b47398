"""Relative-pose benchmark: loaders, pose maths against known motions, a small real run."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from elf_ros.core import direction_error_deg, estimate_relative_pose, rotation_error_deg
from elf_ros.eval import motion
from elf_ros.eval.motion import cli as motion_cli
from elf_ros.eval.sequences import (
    load_sequence,
    quaternion_matrix,
    SequenceError,
)

K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def rot_y(deg: float) -> np.ndarray:
    return cv2.Rodrigues(np.array([0.0, np.radians(deg), 0.0]))[0]


def write_images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(folder / f'{i:06d}.png'), np.full((8, 12), i * 10, np.uint8))


def kitti_rows(poses: list[np.ndarray]) -> str:
    return '\n'.join(' '.join(f'{v:.9e}' for v in p[:3].ravel()) for p in poses) + '\n'


def pose(rotation: np.ndarray, t) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, t
    return out


def test_rotation_and_direction_errors_of_known_motions():
    assert rotation_error_deg(rot_y(3), rot_y(3)) == pytest.approx(0, abs=1e-6)
    assert rotation_error_deg(rot_y(3), rot_y(10)) == pytest.approx(7)
    assert rotation_error_deg(np.eye(3), rot_y(180)) == pytest.approx(180)
    assert direction_error_deg(np.array([0, 0, 1.0]), np.array([0, 0, 5.0])) == 0
    assert direction_error_deg(np.array([1.0, 0, 0]), np.array([0, 0, 2.0])) == pytest.approx(90)
    assert direction_error_deg(np.array([1.0, 0, 0]), np.zeros(3)) == 180


def test_quaternion_matches_opencv_rodrigues():
    axis = np.array([1.0, 2.0, 2.0]) / 3
    angle = np.radians(40)
    q = np.append(axis * np.sin(angle / 2), np.cos(angle / 2))  # x y z w
    np.testing.assert_allclose(quaternion_matrix(*q), cv2.Rodrigues(axis * angle)[0], atol=1e-12)


@pytest.mark.parametrize('distortion', [None, np.array([0.2, -0.5, 0.001, -0.002, 0.3])])
def test_pose_of_synthetic_views_is_recovered(distortion):
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-3, 3, 300), rng.uniform(-2, 2, 300),
                              rng.uniform(4, 12, 300)])
    rotation, t = rot_y(4), np.array([0.5, 0.0, 0.2])
    dist = np.zeros(5) if distortion is None else distortion
    px1 = cv2.projectPoints(points, np.zeros(3), np.zeros(3), K, dist)[0].reshape(-1, 2)
    px2 = cv2.projectPoints(points, cv2.Rodrigues(rotation)[0], t, K, dist)[0].reshape(-1, 2)
    px2[:60] = rng.uniform(0, 640, (60, 2))  # 20 % outliers
    result = estimate_relative_pose(px1, px2, K, distortion, seed=1)
    assert result is not None
    assert rotation_error_deg(result.rotation, rotation) < 0.1
    assert direction_error_deg(result.translation, t) < 0.5
    assert result.inliers[60:].mean() > 0.95 and result.inliers[:60].mean() < 0.1


def test_too_few_points_give_no_pose():
    assert estimate_relative_pose(np.zeros((4, 2)), np.zeros((4, 2)), K) is None


def test_kitti_loader_on_tiny_files(tmp_path: Path):
    write_images(tmp_path / 'image_l', 3)
    poses = [pose(np.eye(3), [0, 0, 0]), pose(rot_y(2), [0, 0, 1]), pose(rot_y(5), [0, 0, 2])]
    (tmp_path / 'poses.txt').write_text(kitti_rows(poses))
    (tmp_path / 'calib.txt').write_text('P0: 700 0 600 0 0 700 180 0 0 0 1 0\n'
                                        'P1: 700 0 600 -380 0 700 180 0 0 0 1 0\n')
    seq = load_sequence(tmp_path)
    assert len(seq) == 3 and seq.image(1).shape == (8, 12) and seq.image(1)[0, 0] == 10
    np.testing.assert_allclose(seq.camera_matrix, [[700, 0, 600], [0, 700, 180], [0, 0, 1]])
    rotation, t = seq.relative_pose(0, 2)
    # x_2 = R x_0 + t: a point at the origin of camera 0 seen from camera 2.
    np.testing.assert_allclose(rotation, rot_y(5).T, atol=1e-8)
    np.testing.assert_allclose(t, -rot_y(5).T @ [0, 0, 2], atol=1e-8)


def test_tum_loader_uses_the_frame_file_names_and_fr2_intrinsics(tmp_path: Path):
    folder = tmp_path / 'tum_fr2_mini'
    folder.mkdir()
    lines = ['# rgb_ts file gt_ts tx ty tz qx qy qz qw']
    for i, stamp in enumerate(('1.000000', '1.100000')):
        cv2.imwrite(str(folder / f'{stamp}.png'), np.full((6, 8, 3), 50 * i, np.uint8))
        lines.append(f'{stamp} somewhere/{stamp}.png {stamp} {i} 0 0 0 0 0 1')
    (folder / 'groundtruth.txt').write_text('\n'.join(lines) + '\n')
    seq = load_sequence(folder)
    assert [p.name for p in seq.frames] == ['1.000000.png', '1.100000.png']
    assert seq.camera_matrix[0, 0] == pytest.approx(520.908620)
    assert seq.distortion[0] == pytest.approx(0.231222)
    assert seq.image(1).shape == (6, 8, 3)
    np.testing.assert_allclose(seq.relative_pose(0, 1)[1], [-1, 0, 0])


def test_generic_loader_and_clear_errors(tmp_path: Path):
    write_images(tmp_path / 'images', 2)
    (tmp_path / 'poses.txt').write_text(kitti_rows([np.eye(4), np.eye(4)]))
    (tmp_path / 'camera.txt').write_text('400 410 320 240 0.1 0.01 0 0\n')
    seq = load_sequence(tmp_path)
    assert seq.camera_matrix[1, 1] == 410 and seq.distortion[1] == pytest.approx(0.01)
    (tmp_path / 'poses.txt').write_text(kitti_rows([np.eye(4)]))
    with pytest.raises(SequenceError, match='2 frames but 1 poses'):
        load_sequence(tmp_path)
    (tmp_path / 'camera.txt').write_text('400 410\n')
    with pytest.raises(SequenceError, match='fx fy cx cy'):
        load_sequence(tmp_path)
    with pytest.raises(SequenceError, match='not a sequence folder'):
        load_sequence(tmp_path / 'images')


def test_failure_rule():
    ok = motion.PairResult(0, 1, 0.5, 3.0, 100, 50, 0.0)
    assert not ok.failed
    assert motion.PairResult(0, 1, 0.5, 3.0, 100, 14, 0.0).failed
    assert motion.PairResult(0, 1, 10.5, 3.0, 100, 50, 0.0).failed
    assert motion.PairResult(0, 1, 0.5, 11.0, 100, 50, 0.0).failed
    assert motion.PairResult(0, 1, float('nan'), float('nan'), 3, 0, 0.0).failed


def test_small_real_run(shared_data: Path, tmp_path: Path):
    out = tmp_path / 'motion'
    code = motion_cli.main(['--sequence', str(shared_data / 'kitti_seq1'), '--sequence',
                        str(shared_data / 'tum_fr2_desk_seq'), '--methods', 'sift,orb',
                        '--limit', '7', '--gaps', '1,5', '--out', str(out)])
    assert code == 0
    result = json.loads((out / 'results.json').read_text())
    rows = {(r['sequence'], r['method'], r['k']): r for r in result['rows']}
    assert len(rows) == 8
    # KITTI pairs 1.2 m apart in a textured street: SIFT gets every pose right.
    kitti = rows[('kitti_seq1', 'sift', 1)]
    assert kitti['failed'] == 0 and kitti['median_rotation_error_deg'] < 1.0
    assert kitti['median_inliers'] > 100
    assert (out / 'kitti_seq1_error_cdf.png').is_file()
    assert (out / 'tum_fr2_desk_seq_inliers_trajectory.png').is_file()
    assert '| 5 | orb |' in (out / 'results.md').read_text()


def target_row(seq: str, k: int, method: str, refine: str, failed: int, rot: float,
               tra: float) -> dict:
    return {'sequence': seq, 'k': k, 'method': method, 'refine': refine, 'pairs': 19,
            'failed': failed, 'median_rotation_error_deg': rot,
            'median_translation_error_deg': tra}


def test_motion_target_compares_the_default_refinement_rows_with_sift():
    elf = motion.runner.OFFLINE_DEFAULT
    rows = [target_row('turn', 1, elf, 'lk', 1, 0.10, 2.0),
            target_row('turn', 1, 'sift', 'lk', 1, 0.10, 2.5),
            target_row('turn', 1, 'sift', 'none', 0, 0.05, 1.0),   # plain SIFT: quoted only
            target_row('turn', 2, elf, 'lk', 2, 0.10, 2.0),
            target_row('turn', 2, 'sift', 'lk', 1, 0.20, 3.0),     # ELF fails more
            target_row('turn', 5, elf, 'lk', 0, 0.10, 3.1),
            target_row('turn', 5, 'sift', 'lk', 0, 0.20, 3.0),     # larger direction error
            target_row('desk', 1, elf, 'none', 0, 0.10, 2.0)]      # no refined rows
    result = motion.motion_targets(rows, refine='lk')
    assert [ok for ok, _ in result] == [True, False, False, False, False, False]
    assert 'sift unrefined 0, 0.050°, 1.000°' in result[0][1]
    assert result[3][1].startswith('NOT MET: desk k=1: no ')
    # Unrefined rows compare with unrefined SIFT.
    assert motion.motion_targets(rows[:3], refine='none', gaps=(1,))[0][0] is False


def test_paired_bootstrap_tells_a_real_difference_from_noise():
    rng = np.random.default_rng(3)
    sift = rng.gamma(2.0, 0.1, 19)
    same = motion.summary.median_difference_interval(sift, sift)
    assert same == (0.0, 0.0, 0.0)
    shifted = motion.summary.median_difference_interval(sift + 0.5, sift)
    assert shifted[0] == pytest.approx(0.5) and shifted[1] > 0.4
    other = rng.gamma(2.0, 0.1, 19)
    noisy = motion.summary.median_difference_interval(other, sift)
    assert noisy[1] < 0 < noisy[2]                      # 19 pairs of one law: not orderable
    assert noisy == motion.summary.median_difference_interval(other, sift)      # seeded
    with pytest.raises(ValueError, match='equal, non-zero length'):
        motion.summary.median_difference_interval([1.0], [1.0, 2.0])


def test_motion_target_line_quotes_the_paired_interval():
    elf = motion.runner.OFFLINE_DEFAULT
    rows = [target_row('turn', 1, elf, 'lk', 0, 0.10, 2.0),
            target_row('turn', 1, 'sift', 'lk', 0, 0.10, 2.5)]
    ids = [[i, i + 1] for i in range(5)]
    rows[0].update(pair_ids=ids, rotation_errors_deg=[0.1, 0.2, 0.1, 0.3, 0.1],
                   translation_errors_deg=[1.0, 2.0, 2.0, 3.0, 1.0])
    rows[1].update(pair_ids=ids, rotation_errors_deg=[0.1, 0.2, 0.1, 0.3, 0.1],
                   translation_errors_deg=[11.0, 12.0, 12.0, 13.0, 11.0])
    (ok, line), = motion.motion_targets(rows, refine='lk', gaps=(1,))
    assert ok and 'paired bootstrap: rot +0.000° [+0.000, +0.000] (within noise)' in line
    assert 't-dir -10.000° [-10.000, -10.000]' in line and line.count('within noise') == 1


def test_refined_pairs_use_fewer_sharper_matches(shared_data: Path):
    """KITTI turn, frames 0 and 1: LK keeps a share of the matches and the pose stays right."""
    from elf_ros.eval.methods import build_method
    seq = load_sequence(shared_data / 'kitti00_turn')
    method = build_method('sift', 1000)
    images = [seq.image(0), seq.image(1)]
    f1, f2 = method.extract(images)
    plain = motion.evaluate_pair(seq, f1, f2, 0, 1, seed=0)
    refined = motion.evaluate_pair(seq, f1, f2, 0, 1, 0, 'lk', *images)
    assert plain.used == -1 and plain.matches == refined.matches
    assert 0.3 * refined.matches < refined.used < refined.matches
    assert not refined.failed and refined.rotation_error < 0.5
    with pytest.raises(ValueError, match='needs both images'):
        motion.evaluate_pair(seq, f1, f2, 0, 1, 0, 'lk')
    runs = motion.run_method(seq, method, (1,), 0, limit=3, refinements=('none', 'lk'))
    assert [r.refine for r in runs] == ['none', 'lk']
    assert runs[0].extract_seconds == runs[1].extract_seconds
    assert [p.j for p in runs[1].pairs[1]] == [1, 2]
    assert runs[0].pairs[1][0].rotation_error == pytest.approx(plain.rotation_error)
    assert runs[1].pairs[1][0].rotation_error == pytest.approx(refined.rotation_error)


def test_unknown_refinement_is_refused(shared_data: Path, tmp_path: Path):
    code = motion_cli.main(['--sequence', str(shared_data / 'kitti00_turn'), '--refine', 'sift',
                        '--out', str(tmp_path)])
    assert code == 2
