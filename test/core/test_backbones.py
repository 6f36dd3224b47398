"""Backbones and weights: layer taps, real Lite0 weights, state-dict files, torchvision models."""
import numpy as np
import pytest
import torch

from elf_ros.core import ConfigError, ElfDetector, WeightsError
from elf_ros.core.backbones import build_backbone, layer_names
from elf_ros.core.efficientnet_lite import lite_layers, lite_state_dict_for_layers
from elf_ros.core.weights import hub_checkpoint_path, lite_imagenet_path, load_state_file

from .conftest import small_config


@pytest.mark.parametrize('backbone,det,desc,strides,dim', [
    ('vgg16', 'pool2', 'pool3', (4, 8), 256),
    ('alexnet', 'pool1', 'pool2', (8, 16), 192),
    ('efficientnet_lite0', 'stem', 'stage3', (2, 8), 40),
    ('vgg19', 'pool2', 'conv3_1', (4, 4), 256),
    ('efficientnet_lite1', 'stem', 'stage3', (2, 8), 40),
    ('efficientnet_lite2', 'stem', 'stage3', (2, 8), 48),
])
def test_builtin_defaults_and_strides(backbone, det, desc, strides, dim):
    b = build_backbone(small_config(backbone=backbone).validate())
    assert (b.detection_layer, b.description_layer) == (det, desc)
    assert (b.detection_stride, b.description_stride, b.descriptor_dim) == (*strides, dim)
    f, d = b.network(torch.zeros(1, 3, 64, 96))
    assert f.shape[-1] == pytest.approx(96 / strides[0], abs=1)
    assert len(d) == 1 and d[0].shape[1] == dim


def test_vgg16_taps_match_torchvision_feature_indices():
    names = layer_names('vgg16')
    # The paper's facts: features[:10] ends at pool2, [:17] at pool3, [:24] at pool4.
    assert names.index('pool2') == 9 and names.index('pool3') == 16 and names.index('pool4') == 23


def test_network_is_trimmed_to_the_deepest_tap():
    b = build_backbone(small_config(detection_layer='pool1', description_layer='pool2'))
    assert len(b.network.layers) == 10


def lite_reference_state(name: str = 'efficientnet_lite0'):
    try:
        return load_state_file(lite_imagenet_path(name))
    except WeightsError as exc:
        pytest.skip(str(exc))


def loaded_lite_table(state: dict, name: str = 'efficientnet_lite0') -> list:
    """Build a Lite layer table with the checkpoint loaded strictly, in eval mode."""
    table = lite_layers(name)
    for (_n, layer, _s), part in zip(table, lite_state_dict_for_layers(name, state),
                                     strict=True):
        layer.load_state_dict(part, strict=True)
        layer.eval()
    return table


def test_lite0_loads_the_packaged_imagenet_weights_and_folds_bn_exactly():
    table = loaded_lite_table(lite_reference_state())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = x
        for _n, layer, _s in table:
            ref = layer(ref)
        for _n, layer, _s in table:
            if hasattr(layer, 'fuse'):
                layer.fuse()
        fused = x
        for _n, layer, _s in table:
            fused = layer(fused)
    torch.testing.assert_close(fused, ref, atol=1e-3, rtol=1e-3)


def test_lite0_preset_detects_on_a_photo_like_image(image):
    lite_reference_state()
    det = ElfDetector(small_config(backbone='efficientnet_lite0', weights='imagenet',
                                   preprocessing='standardize', shift_averaging=2))
    r = det.detect([image])[0]
    assert len(r.keypoints) >= 3 and r.descriptors.shape[1] == 40


def test_weights_from_a_state_dict_file_equal_the_same_random_weights(tmp_path, image):
    ref = ElfDetector(small_config(backbone='alexnet', seed=11))
    state = {f'features.{i}.{k}': v for i, layer in enumerate(ref.network.layers)
             for k, v in layer.state_dict().items()}
    torch.save(state, tmp_path / 'alexnet_features.pth')
    from_file = ElfDetector(small_config(backbone='alexnet',
                                         weights=str(tmp_path / 'alexnet_features.pth')))
    a, b = ref.detect([image])[0], from_file.detect([image])[0]
    np.testing.assert_allclose(a.keypoints, b.keypoints)
    np.testing.assert_allclose(a.descriptors, b.descriptors, atol=1e-6)


def test_imagenet_weights_are_read_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    import torchvision
    url = torchvision.models.AlexNet_Weights.DEFAULT.url
    target = hub_checkpoint_path(url)
    assert str(target).startswith(str(tmp_path))
    target.parent.mkdir(parents=True)
    ref = build_backbone(small_config(backbone='alexnet', seed=5))
    torch.save({f'features.{i}.{k}': v for i, layer in enumerate(ref.network.layers)
                for k, v in layer.state_dict().items()}, target)
    cached = build_backbone(small_config(backbone='alexnet', weights='imagenet'))
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(cached.network(x)[1][0], ref.network(x)[1][0])


def test_missing_or_mismatched_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match='does not exist'):
        ElfDetector(small_config(weights=str(tmp_path / 'nope.pth')))
    torch.save({'features.0.weight': torch.zeros(1)}, tmp_path / 'bad.pth')
    with pytest.raises(WeightsError, match='does not fit'):
        ElfDetector(small_config(weights=str(tmp_path / 'bad.pth')))


def test_any_torchvision_model_by_node_name(image):
    det = ElfDetector(small_config(backbone='torchvision:resnet18'))
    # Defaults: the last node at stride 4 and at stride 8, like vgg16 pool2/pool3.
    assert det.backbone.detection_stride == 4 and det.backbone.description_stride == 8
    r = det.detect([image])[0]
    assert len(r.keypoints) > 5 and r.descriptors.shape[1] == det.descriptor_dim
    det2 = ElfDetector(small_config(backbone='torchvision:resnet18', detection_layer='maxpool',
                                    description_layer='layer2.1.relu_1'))
    assert det2.descriptor_dim == 128
    with pytest.raises(ConfigError, match='detection_layer'):
        ElfDetector(small_config(backbone='torchvision:resnet18', detection_layer='pool2'))
    with pytest.raises(ConfigError, match='backbone'):
        ElfDetector(small_config(backbone='torchvision:resnet9000'))


def test_imagenet_weights_neither_cached_nor_downloadable_say_where_to_put_them(
        tmp_path, monkeypatch):
    """Offline (as here): the error names the published file and the exact cache path."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))

    def offline(*_args, **_kwargs):
        raise OSError('network unreachable')
    # Tests must never download; simulate the offline machine the message is written for.
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', offline)
    with pytest.raises(WeightsError) as err:
        ElfDetector(small_config(backbone='alexnet', weights='imagenet'))
    message = str(err.value)
    assert 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth' in message
    assert str(tmp_path / 'hub' / 'checkpoints' / 'alexnet-owt-7be5be79.pth') in message
    assert 'path of a state-dict file' in message
    assert "default preset 'efficientnet_lite1'" in message  # the offline way out


@pytest.mark.parametrize('name', ['efficientnet_lite0', 'efficientnet_lite1',
                                  'efficientnet_lite2'])
def test_lite_with_the_packaged_weights_recognises_a_cat(name):
    """Loading strictly is not enough: the loaded network must classify like ImageNet Lite."""
    from skimage import data
    state = lite_reference_state(name)
    table = loaded_lite_table(state, name)
    photo = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float()
    x = (torch.nn.functional.interpolate(photo, size=(224, 224), mode='bilinear') - 127.0) / 128.0
    with torch.no_grad():
        for _n, layer, _s in table:
            x = layer(x)
        logits = torch.nn.functional.linear(x.mean((2, 3)), state['_fc.weight'], state['_fc.bias'])
    # ImageNet classes 281-285 are the domestic cats (tabby, tiger, Persian, Siamese, Egyptian).
    assert int(logits.argmax()) in range(281, 286)
