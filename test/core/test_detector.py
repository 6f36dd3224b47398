"""The detector end to end: result contract, batches, determinism, resize, invariance, update."""
import numpy as np
import pytest
import torch

from elf_ros.core import ConfigError, ElfDetector, ElfResult

from .conftest import small_config, textured


def assert_same(a: ElfResult, b: ElfResult, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=atol)
    np.testing.assert_allclose(a.scores, b.scores, atol=atol)
    np.testing.assert_allclose(a.descriptors, b.descriptors, atol=atol)


def test_result_contract(detector, image):
    (r,) = detector.detect([image], return_saliency=True)
    n = len(r.keypoints)
    assert 10 < n <= 200
    assert r.keypoints.dtype == r.scores.dtype == r.descriptors.dtype == np.float32
    assert r.keypoints.shape == (n, 2) and r.scores.shape == (n,)
    assert r.descriptors.shape == (n, detector.descriptor_dim) == (n, 256)
    assert np.all(np.diff(r.scores) <= 0) and r.scores.min() > 0 and r.scores.max() <= 1
    np.testing.assert_allclose(np.linalg.norm(r.descriptors, axis=1), 1, atol=1e-5)
    assert r.saliency.shape == image.shape[:2] and r.saliency.dtype == np.float32
    assert r.saliency.min() >= 0 and r.saliency.max() == pytest.approx(1)
    # Border respected and scores above the Kapur threshold.
    assert np.all(r.keypoints >= 4) and np.all(r.keypoints[:, 0] < 128 - 4)
    assert np.all(r.scores > r.threshold)
    # Keypoints are at least nms_radius apart (Chebyshev), as NMS guarantees.
    d = np.abs(r.keypoints[:, None] - r.keypoints[None]).max(-1) + np.eye(n) * 99
    assert d.min() > 4


def test_gray_image_equals_replicated_rgb(detector, image):
    gray = image[..., 1]
    a = detector.detect([gray])[0]
    b = detector.detect([np.repeat(gray[..., None], 3, axis=2)])[0]
    assert_same(a, b)


def test_batch_equals_one_by_one_with_mixed_sizes(detector):
    imgs = [textured(96, 128, 1), textured(80, 96, 2), textured(96, 128, 3)]
    batch = detector.detect(imgs)
    for img, res in zip(imgs, batch, strict=True):
        assert_same(res, detector.detect([img])[0], atol=1e-4)


def test_same_seed_same_result_other_seed_differs(image):
    a = ElfDetector(small_config(seed=3)).detect([image])[0]
    b = ElfDetector(small_config(seed=3)).detect([image])[0]
    c = ElfDetector(small_config(seed=4)).detect([image])[0]
    assert_same(a, b, atol=0)
    assert a.descriptors.shape != c.descriptors.shape or not np.allclose(
        a.descriptors, c.descriptors)


def test_keypoints_map_back_through_a_resize(detector):
    small = textured(64, 96, 5)
    # A 2x block-upsampled image, bilinearly halved again, is exactly the small image.
    big = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    resized = ElfDetector(small_config(input_width=96, input_height=64))
    a = detector.detect([small])[0]
    b = resized.detect([big], return_saliency=True)[0]
    np.testing.assert_allclose(b.keypoints, (a.keypoints + 0.5) * 2 - 0.5, atol=1e-4)
    np.testing.assert_allclose(b.descriptors, a.descriptors, atol=1e-5)
    assert b.saliency.shape == big.shape[:2]


def test_integer_translation_by_the_stride_moves_keypoints(detector):
    big = textured(128, 176, 9)
    shift = 8                                       # multiple of pool2 (4) and pool3 (8) strides
    a = detector.detect([big[:, :160]])[0]
    b = detector.detect([big[:, shift:160 + shift]])[0]
    inner = (a.keypoints[:, 0] > 30 + shift) & (a.keypoints[:, 0] < 130) & \
        (a.keypoints[:, 1] > 30) & (a.keypoints[:, 1] < 98)
    moved = a.keypoints[inner] - [shift, 0]
    dist = np.abs(moved[:, None] - b.keypoints[None]).max(-1).min(1)
    assert inner.sum() >= 10
    assert np.mean(dist <= 1.0) >= 0.9


def test_update_changes_runtime_fields_only(image):
    det = ElfDetector(small_config())
    before = det.detect([image])[0]
    det.update(max_keypoints=5, nms_radius=6)
    after = det.detect([image])[0]
    assert len(after.keypoints) == 5 and det.config.nms_radius == 6
    with pytest.raises(ConfigError, match='backbone'):
        det.update(backbone='alexnet', max_keypoints=7)
    with pytest.raises(ConfigError, match='noise_blur_kernel'):
        det.update(noise_blur_kernel=4)
    assert det.config.max_keypoints == 5 and det.config.noise_blur_kernel == 5
    det.update(max_keypoints=200, nms_radius=4)
    assert_same(det.detect([image])[0], before, atol=0)


def test_unlimited_keypoints(image):
    det = ElfDetector(small_config(max_keypoints=0))
    r = det.detect([image])[0]
    assert len(r.keypoints) > 0 and np.all(np.diff(r.scores) <= 0)


@pytest.mark.parametrize('bad,match', [
    (np.zeros((0, 10, 3), np.uint8), 'empty'),
    (np.zeros((5, 5), np.uint8), 'too small'),
    (np.zeros((40, 40), np.float32), 'uint8'),
    (np.zeros((40, 40, 4), np.uint8), 'HxW'),
])
def test_bad_images_are_rejected(detector, bad, match):
    with pytest.raises(ValueError, match=match):
        detector.detect([bad])


def test_shift_averaging_runs_and_stays_in_frame(image):
    det = ElfDetector(small_config(shift_averaging=2))
    r = det.detect([image], return_saliency=True)[0]
    assert len(r.keypoints) > 10
    assert r.saliency.shape == image.shape[:2]


def test_standardize_is_brightness_invariant(image):
    det = ElfDetector(small_config(preprocessing='standardize'))
    a = det.detect([image])[0]
    darker = (image.astype(np.float32) * 0.5).round().astype(np.uint8)
    b = det.detect([darker])[0]
    common = min(len(a.keypoints), len(b.keypoints))
    same = (np.abs(a.keypoints[:common, None] - b.keypoints[None, :common]).max(-1) <= 1).any(1)
    assert same.mean() > 0.8


def test_cuda_requested_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip('CUDA present: the error path cannot happen here')
    with pytest.raises(ConfigError, match='device'):
        ElfDetector(small_config(device='cuda'))
