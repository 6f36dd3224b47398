"""OpenCV descriptors at ELF keypoints, and behaviour on the real photographs."""
import cv2
import numpy as np
import pytest

from elf_ros.core import ElfDetector, load_preset
from elf_ros.core.opencv_descriptors import opencv_descriptors

from .conftest import small_config, textured


@pytest.mark.parametrize('kind,width,dtype', [('sift', 128, np.float32), ('orb', 32, np.uint8)])
def test_opencv_descriptors_at_elf_keypoints(detector, kind, width, dtype):
    img = textured(120, 160, 4)
    r = detector.detect([img])[0]
    idx, desc = opencv_descriptors(img, r.keypoints, kind, size=31.0)
    assert desc.shape == (len(idx), width) and desc.dtype == dtype
    assert len(idx) > 0 and np.all(np.diff(idx) > 0) and idx.max() < len(r.keypoints)
    # The same point described directly gives the same descriptor (OpenCV keeps our positions).
    _i, one = opencv_descriptors(img, r.keypoints[idx[:1]], kind, size=31.0)
    np.testing.assert_array_equal(one[0], desc[0])
    with pytest.raises(ValueError, match='kind'):
        opencv_descriptors(img, r.keypoints, 'surf')


def homography_repeatability(kp1, kp2, h, shape2, tol=3.0):
    """Share of image-1 keypoints that land within tol px of an image-2 keypoint under H."""
    p = cv2.perspectiveTransform(kp1.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)
    inside = (p[:, 0] >= 0) & (p[:, 0] < shape2[1]) & (p[:, 1] >= 0) & (p[:, 1] < shape2[0])
    d = np.linalg.norm(p[inside][:, None] - kp2[None], axis=-1).min(1)
    return float(np.mean(d <= tol))


def test_keypoints_follow_the_homography_on_oxford_boat(shared_data):
    """Real photos, random-weight control at 320x240: detections are repeatable, not noise."""
    folder = shared_data / 'oxford_boat'
    img1, img2 = (cv2.imread(str(folder / f'img{i}.pgm'), cv2.IMREAD_GRAYSCALE) for i in (1, 2))
    h = np.loadtxt(folder / 'H1to2p')
    det = ElfDetector(load_preset('random', device='cpu', input_width=320, input_height=240,
                                  nms_radius=4, border=4, max_keypoints=300))
    r1, r2 = det.detect([img1, img2])
    assert len(r1) > 50 and len(r2) > 50
    rep = homography_repeatability(r1.keypoints, r2.keypoints, h, img2.shape, tol=5.0)
    rng = np.random.default_rng(0)
    chance = homography_repeatability(rng.random((300, 2)) * [850, 680],
                                      rng.random((300, 2)) * [850, 680], h, img2.shape, tol=5.0)
    assert rep > 0.3 and rep > 5 * chance      # measured here: 0.46 against 0.04


def test_grayscale_tum_frame_and_batch_of_real_frames(shared_data):
    frames = sorted((shared_data / 'tum_fr2_desk_seq').glob('*.png'))[:3]
    imgs = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in frames]
    det = ElfDetector(small_config(input_width=160, input_height=120))
    results = det.detect(imgs, return_saliency=True)
    for img, r in zip(imgs, results, strict=True):
        assert len(r) > 10 and r.saliency.shape == img.shape
        assert np.all(r.keypoints < [img.shape[1], img.shape[0]])
