"""The saliency is the paper's: |d(1/2 ||F||^2)/dI|, mean over channels, / max."""
import numpy as np
import torch

from elf_ros.core import ElfDetector
from elf_ros.core.saliency import elf_saliency, shift_image, shift_offsets, unshift_map

from .conftest import small_config


def reference_saliency(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Straight from the definition: backward of 0.5 * ||F||^2, image by image."""
    maps = []
    for i in range(x.shape[0]):
        xi = x[i:i + 1].clone().requires_grad_(True)
        f, _d = net(xi)
        (0.5 * f.pow(2).sum()).backward()
        s = xi.grad.abs().mean(dim=1)[0]
        maps.append(s / s.max())
    return torch.stack(maps)


def test_saliency_equals_autograd_of_half_squared_norm():
    for cfg in (small_config(), small_config(backbone='efficientnet_lite0',
                                             detection_layer='stage2',
                                             description_layer='stage3')):
        det = ElfDetector(cfg)
        x = torch.randn(2, 3, 48, 64)
        got, (desc,) = elf_saliency(det.network, x)
        torch.testing.assert_close(got, reference_saliency(det.network, x), atol=1e-5,
                                   rtol=1e-4)
        assert desc.shape[0] == 2


def test_weights_stay_frozen_and_get_no_gradient(detector, image):
    detector.detect([image])
    params = list(detector.network.parameters())
    assert params and all(not p.requires_grad and p.grad is None for p in params)
    assert not detector.network.training


def test_description_map_comes_from_the_same_forward():
    det = ElfDetector(small_config())
    x = torch.randn(1, 3, 48, 64)
    _s, (desc,) = elf_saliency(det.network, x)
    with torch.no_grad():
        h = x
        for layer in det.network.layers:      # vgg16 up to pool3, run plainly
            h = layer(h)
    torch.testing.assert_close(desc, h)
    assert desc.shape == (1, 256, 6, 8)


def test_shift_and_unshift_are_inverse_in_the_interior():
    x = torch.arange(2 * 9 * 11, dtype=torch.float32).view(2, 9, 11)
    shifted = shift_image(x[:, None], 2)[:, 0]
    np.testing.assert_array_equal(shifted[:, 2:, 2:].numpy(), x[:, :-2, :-2].numpy())
    back = unshift_map(shifted, 2)
    np.testing.assert_array_equal(back[:, :-2, :-2].numpy(), x[:, :-2, :-2].numpy())


def test_shift_averaging_equals_mean_of_aligned_shifted_saliencies():
    det = ElfDetector(small_config())
    x = torch.randn(1, 3, 40, 48)
    got, _d = elf_saliency(det.network, x, (0, 2))
    # Straight from the definition: each copy's |gradient| map, aligned back, averaged, / max.
    raw0 = reference_raw(det.network, x)
    raw2 = unshift_map(reference_raw(det.network, shift_image(x, 2)), 2)
    ref = (raw0 + raw2) / 2
    torch.testing.assert_close(got, ref / ref.max(), atol=1e-5, rtol=1e-4)


def reference_raw(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """|d(1/2 ||F||^2)/dx|, mean over channels, not normalised: (B, H, W)."""
    xi = x.clone().requires_grad_(True)
    f, _d = net(xi)
    (0.5 * f.pow(2).sum()).backward()
    return xi.grad.abs().mean(dim=1)


def test_shift_offsets_cover_the_one_pixel_phases():
    assert shift_offsets(1) == [(0, 0)]
    assert shift_offsets(2) == [(0, 0), (1, 1)]
    assert {(y % 2, x % 2) for y, x in shift_offsets(4)} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert len(set(shift_offsets(16))) == 16


def phase_imbalance(s: np.ndarray) -> float:
    """Max/min of the mean saliency over the four (row, column) parities: 1 = no aliasing."""
    m = [s[i::2, j::2].mean() for i in (0, 1) for j in (0, 1)]
    return max(m) / min(m)


def test_shift_averaging_removes_stride_two_aliasing_of_lite0(image):
    cfg = small_config(backbone='efficientnet_lite0', detection_layer='stem')
    plain = ElfDetector(cfg).detect([image], return_saliency=True)[0].saliency
    averaged = ElfDetector(cfg.replace(shift_averaging=4)).detect(
        [image], return_saliency=True)[0].saliency
    assert phase_imbalance(plain) > 1.2
    assert phase_imbalance(averaged) < 1.05
