"""Methods behind the common interface: OpenCV, ELF through the core, ELF + OpenCV descriptors."""
import numpy as np
import pytest

from elf_ros.eval.datasets import resize_image, skimage_photographs
from elf_ros.eval.features import Features
from elf_ros.eval.methods import (
    build_method,
    describe_keypoints,
    expand_methods,
    MethodUnavailableError,
    opencv_factory,
    OPENCV_METHODS,
    weights_for,
)
from elf_ros.eval.metrics import evaluate_pair

SMALL = {'input_width': 0, 'input_height': 0}  # ELF at the test image's own (small) size


@pytest.fixture(scope='module')
def photo():
    return resize_image(skimage_photographs(('astronaut',))[0][1], (320, 240))


def test_opencv_methods_keep_the_strongest(photo):
    sift = build_method('sift', max_keypoints=50)
    (f,) = sift.extract([photo])
    assert 0 < len(f) <= 50
    assert np.all(np.diff(f.scores) <= 0)
    assert f.descriptors.shape == (len(f), 128) and f.descriptors.dtype == np.float32
    (o,) = build_method('orb', max_keypoints=50).extract([photo])
    assert o.descriptors.dtype == np.uint8 and o.descriptors.shape[1] == 32


def test_unavailable_methods_say_why():
    with pytest.raises(MethodUnavailableError, match='unknown method'):
        build_method('surf')
    with pytest.raises(MethodUnavailableError, match='not found'):
        build_method('elf-vgg16', weights={'vgg16': '/nonexistent/vgg16.pth'})
    with pytest.raises(MethodUnavailableError, match='descriptor'):
        build_method('elf-random+brief')
    for name, (cls, _) in OPENCV_METHODS.items():
        try:
            opencv_factory(cls)
        except MethodUnavailableError as exc:  # OpenCV 5 without contrib: named, not a crash
            assert 'contrib' in str(exc)
            with pytest.raises(MethodUnavailableError):
                build_method(name)


@pytest.mark.parametrize('method', ['sift', 'orb', 'elf-random'])
def test_identical_images_give_repeatability_one(photo, method):
    m = build_method(method, max_keypoints=100, elf_overrides=SMALL)
    f1, f2 = m.extract([photo, photo.copy()])
    s = evaluate_pair(f1, f2, np.eye(3), (320, 240), (320, 240))
    assert len(f1) > 10
    assert s.repeatability == 1.0
    assert s.matching_score == 1.0


def test_elf_through_the_core(photo):
    m = build_method('elf-random', max_keypoints=40, elf_overrides=SMALL)
    assert m.weights == 'vgg16: random (seeded)'
    (f,) = m.extract([photo])
    assert 0 < len(f) <= 40
    np.testing.assert_allclose(np.linalg.norm(f.descriptors, axis=1), 1.0, atol=1e-4)
    assert np.all((f.keypoints >= 0) & (f.keypoints < [320, 240]))


def test_elf_keypoints_with_opencv_descriptors(photo):
    elf = build_method('elf-random', max_keypoints=60, elf_overrides=SMALL)
    hybrid = build_method('elf-random+sift', max_keypoints=60, elf_overrides=SMALL)
    (plain,), (mixed,) = elf.extract([photo]), hybrid.extract([photo])
    assert hybrid.name == 'elf-random+sift'
    assert mixed.descriptors.shape[1] == 128
    # Same ELF keypoints (OpenCV may drop a few at the border), in the same order.
    rows = [np.flatnonzero((plain.keypoints == k).all(1))[0] for k in mixed.keypoints]
    assert len(mixed) > 0.8 * len(plain) and rows == sorted(rows)


def test_describe_keypoints_keeps_rows_aligned(photo):
    # The first keypoint is too close to the border for ORB's 31 px patch and gets dropped.
    pts = np.array([[2.0, 2.0], [100.0, 100.0], [200.0, 150.0]], np.float32)
    feats = Features(pts, np.zeros((3, 4), np.float32), np.array([0.9, 0.8, 0.7], np.float32))
    out = describe_keypoints(photo, feats, 'orb')
    np.testing.assert_array_equal(out.keypoints, pts[1:])
    np.testing.assert_allclose(out.scores, [0.8, 0.7])
    assert len(describe_keypoints(photo, Features.empty(), 'sift')) == 0


def test_method_patterns_expand_in_order_without_hybrids():
    names = ['sift', 'orb', 'elf-vgg16', 'elf-vgg16+sift', 'elf-random', 'elf-random+orb']
    assert expand_methods(['sift', 'elf-*', ' ', 'orb', 'sift'], names) == [
        'sift', 'elf-vgg16', 'elf-random', 'orb']
    assert expand_methods(['elf-*+sift'], names) == ['elf-vgg16+sift']
    assert expand_methods(['elf-nosuch*'], names) == ['elf-nosuch*']  # reported as not run
    assert 'elf-efficientnet_lite0' in expand_methods(['elf-*'])


def test_weights_by_preset_then_backbone_never_for_the_random_control():
    files = {'vgg16': '/w/vgg16.pth', 'alexnet': '/w/a.pth'}
    assert weights_for('vgg16', files) == '/w/vgg16.pth'
    assert weights_for('random', files) is None  # random VGG16 stays random
    assert weights_for('random', {'random': '/w/r.pth'}) == '/w/r.pth'  # unless named
    assert weights_for('efficientnet_lite0', files) is None
    assert weights_for('no_such_preset', files) is None
