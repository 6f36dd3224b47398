"""Match refinement on homography pairs: variants scored against the true homography."""
import json
from pathlib import Path

import numpy as np

from elf_ros.core import RefineConfig
from elf_ros.eval import datasets as ds
from elf_ros.eval import refinement
from elf_ros.eval.methods import build_method
from elf_ros.eval.refinement import cli as refinement_cli


def test_prewarp_follows_the_boat_zoom_where_plain_lk_drops_matches(shared_data: Path):
    """Oxford boat 1-3 (zoom and rotation): the homography pre-warp keeps and sharpens matches."""
    pair = ds.load_oxford(shared_data / 'oxford_boat').sources[1].load()
    f1, f2 = build_method('sift', 1000).extract([pair.image1, pair.image2])
    scores = refinement.score_pair(pair, f1, f2, refinement.VARIANTS, RefineConfig())
    none, plain, warped = scores['none'], scores['lk'], scores['lk-homography']
    assert none.kept == none.matches > 100
    assert warped.kept > 1.5 * plain.kept
    assert len(warped.correct_errors) > 0.8 * len(none.correct_errors)
    assert np.median(warped.correct_errors) < np.median(none.correct_errors)
    assert np.mean(warped.correct_errors <= 1) > 0.8


def test_summary_pools_the_correct_matches_of_all_pairs():
    a = refinement.VariantScores(10, 8, np.array([0.5, 1.5, 2.0]), 0.8, 0.01)
    b = refinement.VariantScores(20, 10, np.array([0.2]), 5.0, 0.03)
    row = refinement.summarise([a, b])
    assert row['pairs'] == 2 and row['matches'] == 15 and row['kept_share'] == 18 / 30
    assert row['correct'] == 2 and row['median_px'] == (0.5 + 1.5) / 2
    assert row['within_1px'] == 0.5
    assert row['h_acc_1px'] == 0.5 and row['h_acc_3px'] == 0.5


def test_command_line_writes_tables(shared_data: Path, tmp_path: Path):
    out = tmp_path / 'refine'
    code = refinement_cli.main(['--dataset', f'oxford:{shared_data / "oxford_ubc"}', '--methods',
                            'orb', '--variants', 'none,lk', '--limit', '1', '--out', str(out)])
    assert code == 0
    rows = json.loads((out / 'results.json').read_text())['rows']
    assert {(r['group'], r['variant']) for r in rows} == {
        ('photometric', 'none'), ('photometric', 'lk'), ('all', 'none'), ('all', 'lk')}
    assert '| photometric | orb | lk |' in (out / 'results.md').read_text()
