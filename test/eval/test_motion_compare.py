"""Pair-by-pair comparison of two motion runs (elf_ros.eval.motion.compare)."""
import json

import numpy as np
import pytest

from elf_ros.eval.motion.compare import Cell, compare, markdown
from elf_ros.eval.motion.compare_cli import main

METHOD = 'elf-efficientnet_lite1'


def results(rot: list[float | None], tra: list[float], inliers: int = 100, k: int = 1,
            sequence: str = 'seq', refine: str = 'lk', method: str = METHOD,
            first: int = 0) -> dict:
    """Return a results.json with one block of pairs (i, i + k) carrying the given errors."""
    pairs = [{'i': i, 'j': i + k, 'rotation_error': r, 'translation_error': t,
              'matches': 2 * inliers, 'inliers': inliers, 'seconds': 0.01, 'used': -1}
             for i, (r, t) in enumerate(zip(rot, tra, strict=True), start=first)]
    return {'command': f'run of {method}', 'pairs': [
        {'sequence': sequence, 'method': method, 'refine': refine, 'k': k, 'pairs': pairs}]}


def test_a_clearly_better_variant_is_called_better_and_a_tie_is_noise():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.3, 30)
    a = results(list(base * 0.5), list(base))          # rotation halved, direction the same
    b = results(list(base), list(base))
    (cell,) = compare(a, b, METHOD, 'lk')
    assert (cell.sequence, cell.k, cell.pairs) == ('seq', 1, 30)
    assert cell.rotation[0] == pytest.approx(np.median(base * 0.5) - np.median(base))
    assert Cell.verdict(cell.rotation) == 'A better'
    assert cell.translation == (0.0, 0.0, 0.0) and Cell.verdict(cell.translation) == 'noise'
    text = markdown([cell], 'variant', 'default')
    assert '**A better**' in text and 'A better 1, B better 0; within noise 1' in text


def test_only_common_pairs_are_compared_and_a_missing_pose_counts_as_a_failure():
    a = results([None, 0.2, 0.2, 0.2], [1.0, 1.0, 1.0, 1.0], first=0)
    b = results([0.1, 0.1, 0.1], [1.0, 1.0, 1.0], first=1)            # pairs 1..3 only
    (cell,) = compare(a, b, METHOD, 'lk')
    assert cell.pairs == 3 and cell.failed == (0, 0)
    a = results([None, 0.2, 0.2], [1.0, 1.0, 1.0])
    b = results([0.1, 0.1, 0.1], [1.0, 1.0, 1.0])
    (cell,) = compare(a, b, METHOD, 'lk')
    assert cell.failed == (1, 0)                      # no pose: 180 deg, over the 10 deg limit


def test_other_methods_refinements_and_sequences_are_kept_apart():
    a = results([0.1] * 5, [1.0] * 5, refine='none')
    b = results([0.1] * 5, [1.0] * 5)
    assert compare(a, b, METHOD, 'lk') == []
    b_other = results([0.3] * 5, [1.0] * 5, refine='none', method='sift')
    (cell,) = compare(a, b_other, METHOD, 'none', method_b='sift')
    assert Cell.verdict(cell.rotation) == 'A better'


def test_command_line_prints_the_table_and_refuses_what_it_cannot_compare(tmp_path, capsys):
    pa, pb = tmp_path / 'a.json', tmp_path / 'b.json'
    pa.write_text(json.dumps(results([0.1] * 20, [1.0] * 20)))
    pb.write_text(json.dumps(results([0.3] * 20, [1.0] * 20)))
    assert main([str(pa), str(pb)]) == 0
    out = capsys.readouterr().out
    assert '| seq | 1 | 20 | 0 / 0 | 100 / 100 |' in out and 'A better 1' in out
    assert main([str(pa), str(pb), '--method', 'sift']) == 1
    assert 'no sequence and gap' in capsys.readouterr().err
    assert main([str(pa), str(tmp_path / 'missing.json')]) == 2
