"""Matching score per descriptor payload format: runs end to end on a small synthetic pair."""
from elf_ros.eval import datasets as ds
from elf_ros.eval.compact_formats import score_formats
from elf_ros.eval.methods import build_method


def test_formats_scored_on_a_real_photograph():
    data = ds.synthetic_pairs(ds.skimage_photographs(('camera',)), 1, seed=0, size=(160, 120))
    method = build_method('elf-random', 100, 'cpu', elf_overrides={'border': 4})
    scores = score_formats(data, method)
    assert set(scores) == {'float32', 'float16', 'uint8'}
    f32 = scores['float32']
    assert f32['correct'] > 0 and f32['descriptor_bytes_per_keypoint'] == 256 * 4
    # float16 keeps the matches; uint8 stays within a few matches of float32.
    assert abs(scores['float16']['correct'] - f32['correct']) <= 1
    assert abs(scores['uint8']['correct'] - f32['correct']) <= 0.1 * f32['correct'] + 2
