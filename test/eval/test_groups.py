"""Grouping by kind of change: the rule table, unknown names, and the runner's records."""
import cv2
import numpy as np

from elf_ros.eval.datasets import load_oxford, warp
from elf_ros.eval.groups import group_of, group_order, OTHER
from elf_ros.eval.methods import build_method
from elf_ros.eval.report import scoreboard_data
from elf_ros.eval.runner import evaluate, MethodStatus


def test_group_rules_by_name_and_prefix():
    expected = {
        'oxford_graf': 'viewpoint', 'wall': 'viewpoint', 'v_wormhole': 'viewpoint',
        'V_Bird': 'viewpoint', 'oxford_boat': 'zoom+rotation', 'bark': 'zoom+rotation',
        'oxford_trees': 'photometric', 'oxford_ubc': 'photometric', 'bikes': 'photometric',
        'leuven': 'photometric', 'i_ajuntament': 'photometric',
        'tum_fr2_desk_seq': OTHER, 'oxford_newseq': OTHER, 'graffiti_2': OTHER, '': OTHER,
    }
    assert {name: group_of(name) for name in expected} == expected


def test_group_order_puts_the_kinds_of_change_first():
    assert group_order({'synthetic', OTHER, 'photometric', 'viewpoint', 'zoom+rotation'}) == [
        'viewpoint', 'zoom+rotation', 'photometric', OTHER, 'synthetic']


def make_sequence(folder, seed):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 255, (120, 160), dtype=np.uint8), (0, 0), 1.5)
    shift = np.array([[1.0, 0, 4.0], [0, 1.0, 3.0], [0, 0, 1.0]])
    cv2.imwrite(str(folder / 'img1.png'), base)
    for k in (2, 3):
        cv2.imwrite(str(folder / f'img{k}.png'), warp(base, shift, (160, 120)))
        np.savetxt(folder / f'H1to{k}p', shift)


def test_runner_groups_real_sequences_and_an_unknown_one_goes_to_other(tmp_path):
    make_sequence(tmp_path / 'oxford_graf', 1)
    make_sequence(tmp_path / 'oxford_mystery', 2)
    make_sequence(tmp_path / 'v_heldout', 3)  # an HPatches name in the Oxford layout
    data = load_oxford(tmp_path, size=(160, 120))
    orb = build_method('orb', max_keypoints=100)
    result = evaluate([data], [MethodStatus('orb', 'none', method=orb)])
    assert {(r.sequence, r.group) for r in result.records} == {
        ('oxford_graf', 'viewpoint'), ('oxford_mystery', OTHER), ('v_heldout', 'viewpoint')}
    board = scoreboard_data(result)
    assert set(board['groups']) == {'viewpoint', OTHER}
    assert board['groups']['viewpoint']['sequences'] == ['oxford_graf', 'v_heldout']
    assert board['scopes']['hpatches']['orb']['pairs'] == 2  # the v_* pairs only
    row = board['groups']['viewpoint']['methods']['orb']
    assert row['pairs'] == 4 and row['correct'] > 10
    assert row['correct_min'] <= row['correct'] <= row['correct_max']
