"""The scoreboard: spread over pairs, targets against SIFT, and the Markdown blocks rewritten."""
import json

import numpy as np
import pytest

from elf_ros.eval.metrics import PairScores
from elf_ros.eval.report import summarise
from elf_ros.eval.runner import PairRecord
from elf_ros.eval.scoreboard import replace_blocks, scoreboard_markdown, summary_markdown
from elf_ros.eval.scoreboard.cli import main
from elf_ros.eval.targets import check_targets


def test_summary_spread_over_pairs_and_sequences():
    records = [PairRecord('oxford', seq, f'1-{k}', None, 'sift',
                          PairScores(repeatability=0.5, mnn_correct=c), 0.01, group='viewpoint')
               for k, (seq, c) in enumerate([('a', 10), ('a', 20), ('b', 30), ('b', 40)])]
    s = summarise(records)
    assert (s['pairs'], s['sequences']) == (4, 2)
    assert s['correct'] == 25 and s['correct_std'] == pytest.approx(125 ** 0.5)
    assert (s['correct_min'], s['correct_max']) == (10, 40)
    assert (s['correct_seq_min'], s['correct_seq_max']) == (15, 35)
    assert (s['rep'], s['rep_std']) == (50.0, 0.0)


def row(correct=100.0, h3=80.0, ms=20.0, rep=60.0):
    return {'pairs': 5, 'sequences': 1, 'correct': correct, 'correct_std': 10.0,
            'correct_seq_min': correct, 'correct_seq_max': correct, 'mnn_prec': 50.0,
            'rep': rep, 'rep_std': 1.0, 'ms': ms, 'ms_std': 1.0, 'h_acc_1px': 0.0,
            'h_acc_3px': h3, 'h_acc_5px': h3, 'keypoints': 500.0, 'ms_per_image': 10.0,
            'failed': 0}


def board():
    lite = 'elf-efficientnet_lite1'
    ran = ['sift', 'elf-vgg19', 'elf-vgg19+sift', lite, 'elf-vgg19_paper']
    groups = {
        'viewpoint': {'sift': row(), 'elf-vgg19': row(140, 80), lite: row(100, 70, 25),
                      'elf-vgg19_paper': row(30, 20, 55, 70)},
        'zoom+rotation': {'sift': row(), 'elf-vgg19': row(120, 90), lite: row(85, 0, 15)},
        'photometric': {'elf-vgg19': row(300, 90), lite: row(90, 99, 30),
                        'elf-vgg19_paper': row(30, 20, 52, 64)},
    }
    return {
        'settings': {'command': 'elf-eval --x', 'size': [640, 480], 'max_keypoints': 500,
                     'pixel_threshold': 5.0, 'revision': 'abc123'},
        'methods': [*({'name': m, 'weights': 'w', 'available': True, 'note': ''} for m in ran),
                    {'name': 'elf-vgg16', 'weights': '', 'available': False,
                     'note': 'no ImageNet weights here'}],
        'groups': {g: {'sequences': [f'{g}_seq'], 'methods': rows} for g, rows in groups.items()},
        'scopes': {'hpatches': {'elf-vgg19_paper': row(30, 20, 51.0, 70.0)}},
        'overall': {m: row() for m in ran},
    }


def test_targets_against_sift_with_every_verdict():
    rows = check_targets(board())
    verdicts = {(r['method'], r.get('scope'), r.get('measure')): r['verdict'] for r in rows}
    assert verdicts[('elf-vgg19', 'viewpoint', 'correct')] == 'pass'      # 1.4x >= 1.3x
    assert verdicts[('elf-vgg19', 'zoom+rotation', 'correct')] == 'fail'  # 1.2x
    assert verdicts[('elf-vgg19', 'viewpoint', 'h_acc_3px')] == 'pass'    # 80 >= 80
    assert verdicts[('elf-vgg19', 'photometric', 'correct')] == 'no SIFT'
    assert verdicts[('elf-vgg16', None, None)] == 'not run'
    lite = 'elf-efficientnet_lite1'
    assert verdicts[(lite, 'viewpoint', 'ms')] == 'pass'
    assert verdicts[(lite, 'zoom+rotation', 'correct')] == 'pass'  # 0.85x >= 0.8x
    assert verdicts[(lite, 'zoom+rotation', 'ms')] == 'fail'       # 15 < 0.8 x 20
    assert verdicts[('elf-vgg19_paper', 'hpatches', 'rep')] == 'pass'  # 70 >= 63.8
    assert verdicts[('elf-vgg19_paper', 'hpatches', 'ms')] == 'fail'   # 51 < 51.8
    assert verdicts[('elf-vgg19_paper', 'photometric', 'ms')] == 'pass'        # 52 >= 51.8
    assert not any(r['method'] == 'elf-vgg19+sift' for r in rows)  # hybrids only on request
    (ratio_row,) = [r for r in rows if (r['method'], r.get('scope'), r.get('measure'))
                    == ('elf-vgg19', 'viewpoint', 'correct')]
    assert (ratio_row['value'], ratio_row['reference'], ratio_row['needed']) == (140, 100, 130)


def test_targets_of_a_missing_method_say_not_run():
    data = board()
    data['methods'] = [m for m in data['methods'] if not m['name'].startswith('elf-vgg19')]
    rows = [r for r in check_targets(data) if r['target'].startswith('the paper')]
    assert [(r['verdict'], r['note']) for r in rows] == [('not run', 'no such method in this run')]


TEXT = """# Title

Intro stays; a quoted `<!-- scoreboard:begin -->` marker stays too.

<!-- scoreboard:begin -->
old table
<!-- scoreboard:end -->

Between stays.

<!-- scoreboard:begin summary -->
| old | summary |
<!-- scoreboard:end -->
Tail stays.
"""


def test_blocks_are_rewritten_in_place_and_deterministically():
    data = board()
    out = replace_blocks(TEXT, data)
    assert replace_blocks(out, data) == out
    intro = '# Title\n\nIntro stays; a quoted `<!-- scoreboard:begin -->` marker stays too.\n\n'
    for kept in (intro, '\nBetween stays.\n\n', 'Tail stays.\n'):
        assert kept in out
    assert 'old table' not in out and '| old | summary |' not in out
    full = out[out.index('\n<!-- scoreboard:begin -->\n') + 1:out.index('Between stays.')]
    assert full.count('<!-- scoreboard:end -->') == 1
    assert full == ('<!-- scoreboard:begin -->\n' + scoreboard_markdown(data)
                    + '<!-- scoreboard:end -->\n\n')
    for line in ('#### viewpoint: 5 pairs, 1 sequence (viewpoint_seq)',
                 '| elf-vgg19 | 140 ± 10 | 140–140 | 50.0 | 60.0 ± 1.0 | 20.0 ± 1.0 | 0/80/80 '
                 '| 500 | 10 |',
                 '| elf-vgg19 | 1.40x · 80 (80) | 1.20x · 90 (80) | - |',
                 '| VGG presets users run | elf-vgg19 | zoom+rotation | correct/pair | 120 | 100 '
                 '| ≥ 1.3x SIFT | **fail** |',
                 '- elf-vgg16: no ImageNet weights here'):
        assert line in full
    summary = summary_markdown(data)
    assert summary in out
    # H acc ≤1/3 px, then median px and % within 1 px ('-': the rows carry no localisation).
    assert '| sift | 100 / 100 / - | 60.0 / 20.0 | 0/80 | - | - | 500 | SIFT 54.5 / 26.1 |' \
        in summary
    assert ('| elf-vgg19 | 140 / 120 / 300 | 60.0 / 20.0 | 0/80 | - | - | 500 | '
            'ELF-VGG 63.8 / 51.8 |') in summary
    assert '640x480, top 500, 5 px, code abc123' in summary


def test_bad_blocks_are_refused():
    with pytest.raises(ValueError, match='no <!-- scoreboard:begin'):
        replace_blocks('no markers here\n', board())
    with pytest.raises(ValueError, match='unknown scoreboard block'):
        replace_blocks('<!-- scoreboard:begin fancy -->\n<!-- scoreboard:end -->\n', board())


def test_command_line_rewrites_files_from_results_json(tmp_path, capsys):
    results = tmp_path / 'results.json'
    results.write_text(json.dumps(board()))
    doc = tmp_path / 'doc.md'
    doc.write_text(TEXT)
    assert main([str(results), str(doc)]) == 0
    assert doc.read_text() == replace_blocks(TEXT, board())
    plain = tmp_path / 'plain.md'
    plain.write_text('nothing to rewrite\n')
    with pytest.raises(SystemExit, match='no <!-- scoreboard:begin'):
        main([str(results), str(doc), str(plain)])


def test_evaluation_refuses_docs_without_a_block_before_running(tmp_path):
    from elf_ros.eval.cli import main as eval_main

    plain = tmp_path / 'plain.md'
    plain.write_text('nothing to rewrite\n')
    with pytest.raises(SystemExit, match='--docs'):
        eval_main(['--dataset', 'synthetic:skimage', '--docs', str(plain), '--quiet',
                   '--out', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


def test_localisation_is_pooled_over_correct_matches_and_checked_against_its_target():
    # Per pair: (correct matches, of which within 1 px, their median error); a pair without
    # correct matches has no median and is left out of the median over pairs.
    pairs = [(3, 3, 0.4), (5, 0, 2.5), (10, 6, 0.9), (0, 0, float('nan'))]
    records = [PairRecord('oxford', 'graf', f'1-{k}', None, 'sift',
                          PairScores(mnn_correct=c, mnn_within_1px=n, mnn_error_median=m), 0.01,
                          group='viewpoint') for k, (c, n, m) in enumerate(pairs)]
    s = summarise(records)
    assert s['loc_median_px'] == pytest.approx(np.median([0.4, 2.5, 0.9]))   # 0.9
    assert s['loc_within_1px'] == pytest.approx(100 * 9 / 18)     # pooled over the matches
    nothing = PairRecord('oxford', 'graf', '1-2', None, 'sift', PairScores(), 0.01)
    assert np.isnan(summarise([nothing])['loc_median_px'])

    data = board()
    lite = 'elf-efficientnet_lite1'
    data['overall'][lite] = {**row(), 'loc_median_px': 0.95, 'loc_within_1px': 58.0}
    data['overall']['sift'] = {**row(), 'loc_median_px': 0.79, 'loc_within_1px': 77.0}
    data['groups']['viewpoint']['methods'][lite].update(loc_median_px=1.2, loc_within_1px=40.0)
    rows = {(r['method'], r.get('measure')): r for r in check_targets(data)
            if r['target'].startswith('localisation')}
    assert rows[(lite, 'loc_median_px')]['verdict'] == 'pass'        # 0.95 <= 1.0
    assert rows[(lite, 'loc_median_px')]['required'] == '≤ 1'
    assert rows[(lite, 'loc_within_1px')]['verdict'] == 'fail'       # 58 < 60
    assert rows[(lite, 'loc_within_1px')]['scope'] == 'all'
    data['overall'][lite]['loc_median_px'] = float('nan')            # no correct match at all
    verdicts = {r.get('measure'): r['verdict'] for r in check_targets(data)
                if r['target'].startswith('localisation')}
    assert verdicts['loc_median_px'] == 'no data'

    board_text = scoreboard_markdown(data)
    assert '#### Localisation of the correct matches' in board_text
    # '-' where a row has no localisation (or no row at all: SIFT has no photometric row here).
    assert f'| {lite} | 1.20 · 40 · 0 | - · - · 0 | - · - · 0 | - · 58 · 0 |' in board_text
    assert '| sift | - · - · 0 | - · - · 0 | - | 0.79 · 77 · 0 |' in board_text
