"""
The backbone registry and the issue-8 mechanisms, each against an independent reference.

vgg19 in torchvision's layout, partial state dicts, the normalised VGG-19 file, the stem's
pre-activation tap, the ReLU6 gradient option and several description layers.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core import ConfigError, DetectorConfig, ElfDetector, WeightsError
from elf_ros.core.activations import PassUpperReLU6
from elf_ros.core.backbones import build_backbone, make_layers
from elf_ros.core.registry import BACKBONES
from elf_ros.core.saliency import elf_saliency

from .conftest import small_config
from .test_backbones import lite_reference_state

NORMALISED_VGG = 'weights/vgg19_normalised_conv3_1/vgg_normalised_conv3_1.pth'


@pytest.mark.parametrize('name', list(BACKBONES))
def test_registry_tables_name_the_built_layers_and_their_strides(name):
    spec = BACKBONES[name]
    layers = make_layers(spec)
    assert [n for n, _m, _s in layers] == [n for n, _s in spec.table()]
    x = torch.zeros(1, 3, 128, 128)
    with torch.no_grad():
        for layer_name, module, stride in layers[:12]:
            module.eval()
            x = module(x)
            assert 128 / x.shape[-1] == pytest.approx(stride, rel=0.25), layer_name
    for tap in (spec.detection, spec.description):
        assert tap in spec.layer_names()


def test_registry_and_config_import_no_torch():
    """Config validation reads the registry; neither may pull in torch (no import circle)."""
    code = ('import importlib.util, sys\n'
            'for name in ("registry", "config"):\n'
            '    spec = importlib.util.spec_from_file_location(\n'
            '        "elf_ros.core." + name, "elf_ros/core/" + name + ".py")\n'
            '    mod = importlib.util.module_from_spec(spec)\n'
            '    sys.modules[spec.name] = mod\n'
            '    spec.loader.exec_module(mod)\n'
            'mod.DetectorConfig(backbone="vgg19", description_layer="conv3_1,pool2").validate()\n'
            'assert "torch" not in sys.modules, "torch imported"\n')
    root = __file__.rsplit('/test/', 1)[0]
    out = subprocess.run([sys.executable, '-c', code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_config_checks_every_description_layer():
    DetectorConfig(backbone='efficientnet_lite1', description_layer='stage3,stage5').validate()
    with pytest.raises(ConfigError, match="unknown layer 'stage9'"):
        DetectorConfig(backbone='efficientnet_lite1',
                       description_layer='stage3,stage9').validate()
    with pytest.raises(ConfigError, match='one layer only'):
        DetectorConfig(backbone='vgg19', detection_layer='pool1,pool2').validate()


def torchvision_vgg19_features(seed: int = 3) -> nn.Sequential:
    import torchvision
    torch.manual_seed(seed)
    return torchvision.models.vgg19(weights=None).features.eval()


def test_vgg19_follows_torchvision_layout_and_loads_a_partial_state_dict(tmp_path):
    features = torchvision_vgg19_features()
    # Only the layers up to conv3_1 (features.10), as a file made for the shallow taps would.
    partial = {f'features.{k}': v for k, v in features.state_dict().items()
               if int(k.split('.')[0]) <= 10}
    torch.save(partial, tmp_path / 'vgg19_to_conv3_1.pth')
    path = str(tmp_path / 'vgg19_to_conv3_1.pth')
    b = build_backbone(small_config(backbone='vgg19', weights=path, detection_layer='pool2',
                                    description_layer='conv3_1'))
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        f, (d,) = b.network(x)
        torch.testing.assert_close(f, features[:10](x))
        torch.testing.assert_close(d, features[:11](x))
    with pytest.raises(WeightsError, match='no weights for layer conv3_2') as err:
        build_backbone(small_config(backbone='vgg19', weights=path, description_layer='relu3_2'))
    assert 'vgg19_to_conv3_1.pth' in str(err.value) and 'conv1_1 .. conv3_1' in str(err.value)


def normalised_reference(state: dict) -> nn.Sequential:
    """Build the normalised VGG-19 as style-transfer code does; indices match the file's keys."""
    pad = nn.ReflectionPad2d
    net = nn.Sequential(
        nn.Conv2d(3, 3, 1), pad(1), nn.Conv2d(3, 64, 3), nn.ReLU(),            # 0..3
        pad(1), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2),            # 4..7
        pad(1), nn.Conv2d(64, 128, 3), nn.ReLU(),                               # 8..10
        pad(1), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2, 2),          # 11..14
        pad(1), nn.Conv2d(128, 256, 3), nn.ReLU())                              # 15..17
    net.load_state_dict(state, strict=True)
    return net.eval()


def check_normalised_mapping(path: str, state: dict) -> None:
    ref = normalised_reference(state)
    b = build_backbone(small_config(backbone='vgg19', weights=path, detection_layer='pool2',
                                    description_layer='conv3_1,relu2_2'))
    # Its own input normalisation is RGB / 255: the 1x1 conv does the rest.
    assert b.mean == (0.0, 0.0, 0.0) and b.std == (1.0, 1.0, 1.0)
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        f, (d3, d2) = b.network(x)
        torch.testing.assert_close(f, ref[:15](x), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(d3, ref[:17](x), rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(d2, ref[:14](x), rtol=1e-4, atol=1e-4)


def test_a_normalised_vgg_state_dict_maps_onto_vgg19(tmp_path):
    torch.manual_seed(0)
    # Same parameter indices as the file (padding, ReLU and pooling hold none).
    plain = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Identity(), nn.Conv2d(3, 64, 3), nn.Identity(),
                          nn.Identity(), nn.Conv2d(64, 64, 3), *[nn.Identity()] * 3,
                          nn.Conv2d(64, 128, 3), nn.Identity(), nn.Identity(),
                          nn.Conv2d(128, 128, 3), *[nn.Identity()] * 3, nn.Conv2d(128, 256, 3))
    state = plain.state_dict()
    assert sorted({int(k.split('.')[0]) for k in state}) == [0, 2, 5, 9, 12, 16]
    torch.save(state, tmp_path / 'normalised.pth')
    check_normalised_mapping(str(tmp_path / 'normalised.pth'), state)


def test_the_shared_normalised_vgg19_file_maps_onto_vgg19(shared_data):
    path = shared_data.parent / NORMALISED_VGG
    if not path.is_file():
        pytest.skip(f'{path} not present')
    state = torch.load(path, map_location='cpu', weights_only=True)
    check_normalised_mapping(str(path), state)
    with pytest.raises(WeightsError, match='no weights for layer conv3_2'):
        build_backbone(small_config(backbone='vgg19', weights=str(path),
                                    description_layer='conv3_2'))


def test_the_stem_pre_activation_tap_is_conv_and_bn_before_relu6():
    state = lite_reference_state()
    cfg = small_config(backbone='efficientnet_lite0', weights='imagenet',
                       detection_layer='stem_conv', description_layer='stem')
    b = build_backbone(cfg)
    x = torch.randn(1, 3, 32, 48) * 3
    ref = F.conv2d(x, state['_conv_stem.weight'], stride=2, padding=1)
    ref = F.batch_norm(ref, state['_bn0.running_mean'], state['_bn0.running_var'],
                       state['_bn0.weight'], state['_bn0.bias'], eps=1e-3)
    with torch.no_grad():
        f, (d,) = b.network(x)
    torch.testing.assert_close(f, ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(d, ref.clamp(0, 6), rtol=1e-4, atol=1e-4)
    assert (ref > 6).any() and (ref < 0).any()       # both clips are active on this input


class DetachTrickReLU6(nn.Module):
    """Same forward as ReLU6, gradient 1 wherever x > 0, written without a custom Function."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0) - (x - 6).clamp(min=0).detach()


def swap(net: nn.Module, kind: type, make) -> None:
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kind):
                setattr(parent, name, make())


def test_pass_upper_relu6_matches_an_independent_reference():
    x = torch.linspace(-3, 9, 49, requires_grad=True)
    y = PassUpperReLU6()(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(y, F.relu6(x))
    torch.testing.assert_close(g, (x > 0).float())


def test_relu6_gradient_option_changes_the_saliency_like_the_reference(image):
    lite_reference_state()
    cfg = small_config(backbone='efficientnet_lite0', weights='imagenet', detection_layer='stage2',
                       description_layer='stem')
    plain = build_backbone(cfg).network
    passing = build_backbone(cfg.replace(relu6_pass_gradient=True)).network
    reference = build_backbone(cfg).network
    swap(reference, nn.ReLU6, DetachTrickReLU6)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 64.0 - 2.0
    s_pass, _ = elf_saliency(passing, x)
    s_ref, _ = elf_saliency(reference, x)
    s_plain, _ = elf_saliency(plain, x)
    torch.testing.assert_close(s_pass, s_ref, rtol=1e-4, atol=1e-5)
    assert (s_pass - s_plain).abs().max() > 0.05           # the clip mattered on this input
    with torch.no_grad():                                   # and the forward is unchanged
        torch.testing.assert_close(passing(x)[0], plain(x)[0])


def test_several_description_layers_are_normalised_concatenated_and_renormalised(image):
    lite_reference_state()
    base = dict(backbone='efficientnet_lite0', weights='imagenet', detection_layer='stem_conv')
    both = ElfDetector(small_config(**base, description_layer='stage3,stage5'))
    one = [ElfDetector(small_config(**base, description_layer=d)) for d in ('stage3', 'stage5')]
    assert both.backbone.description_layer == 'stage3,stage5'
    assert both.descriptor_dim == 40 + 112 and both.backbone.description_stride == 16
    r = both.detect([image])[0]
    parts = [d.detect([image])[0] for d in one]
    for p in parts:                                  # detection does not depend on description
        np.testing.assert_array_equal(p.keypoints, r.keypoints)
    ref = np.concatenate([p.descriptors / np.linalg.norm(p.descriptors, axis=1, keepdims=True)
                          for p in parts], axis=1)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert len(r) > 5
    np.testing.assert_allclose(r.descriptors, ref, atol=1e-5)


def test_torchvision_backbones_take_several_description_nodes(image):
    det = ElfDetector(small_config(backbone='torchvision:resnet18', detection_layer='maxpool',
                                   description_layer='layer1.1.relu_1,maxpool'))
    assert det.descriptor_dim == 128
    r = det.detect([image])[0]
    np.testing.assert_allclose(np.linalg.norm(r.descriptors, axis=1), 1.0, atol=1e-5)


def gradient_percentile_at(gray: np.ndarray, xy: np.ndarray) -> float:
    """Mean rank (0..1) of the smoothed image-gradient magnitude at the keypoints."""
    import cv2
    g = gray.astype(np.float32)
    mag = cv2.GaussianBlur(np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0),
                                    cv2.Sobel(g, cv2.CV_32F, 0, 1)), (5, 5), 1.5)
    rank = np.empty(mag.size)
    rank[np.argsort(mag.ravel(), kind='stable')] = np.arange(mag.size) / mag.size
    x, y = np.round(xy).astype(int).T
    return float(rank.reshape(mag.shape)[y, x].mean())


def test_offline_lite_preset_puts_keypoints_on_edges_not_flat_regions(shared_data):
    """
    The old Lite0 stem-after-ReLU6 preset scored ~0.09 here (flat regions).

    The offline default scores 0.74 (0.78 without its input blur, which favours slightly
    coarser structures than the image's sharpest edges).
    """
    import cv2

    from elf_ros.core import load_preset
    lite_reference_state('efficientnet_lite1')
    gray = cv2.imread(str(shared_data / 'oxford_boat' / 'img1.pgm'), cv2.IMREAD_GRAYSCALE)
    gray = cv2.resize(gray, (320, 240), interpolation=cv2.INTER_AREA)
    cfg = load_preset('efficientnet_lite1', device='cpu', input_width=320, input_height=240,
                      nms_radius=5, border=5)
    r = ElfDetector(cfg).detect([gray])[0]
    assert len(r) >= 50
    assert gradient_percentile_at(gray, r.keypoints) > 0.6


def test_lite1_preset_threshold_floor_keeps_the_unthresholded_top_k(shared_data):
    """threshold_scale 0.25 only spares NMS the weak maxima: the top 500 equal those of 0."""
    import cv2

    from elf_ros.core import load_preset
    lite_reference_state('efficientnet_lite1')
    gray = cv2.imread(str(shared_data / 'oxford_boat' / 'img1.pgm'), cv2.IMREAD_GRAYSCALE)
    gray = cv2.resize(gray, (640, 480), interpolation=cv2.INTER_AREA)
    cfg = load_preset('efficientnet_lite1', device='cpu')
    assert cfg.threshold_scale == 0.25
    floor = ElfDetector(cfg).detect([gray])[0]
    none = ElfDetector(cfg.replace(threshold_scale=0.0)).detect([gray])[0]
    assert len(floor) == len(none) == 500
    np.testing.assert_array_equal(floor.keypoints, none.keypoints)
    np.testing.assert_array_equal(floor.descriptors, none.descriptors)
