"""Configuration: validation names the bad field and the allowed values; presets; metadata."""
import re

import pytest

from elf_ros.core import (
    ConfigError,
    DetectorConfig,
    FIELD_SPECS,
    load_preset,
    PRESETS,
    RUNTIME_FIELDS,
)


def test_defaults_follow_the_paper_elf_vgg():
    c = DetectorConfig().validate()
    assert (c.backbone, c.weights, c.max_keypoints, c.nms_radius, c.border) == (
        'vgg16', 'imagenet', 500, 10, 10)
    assert (c.threshold_blur_kernel, c.threshold_blur_sigma) == (5, 5.0)
    assert (c.noise_blur_kernel, c.noise_blur_sigma) == (5, 4.0)


def test_every_field_has_metadata_and_runtime_fields_are_the_post_processing():
    assert set(FIELD_SPECS) == set(DetectorConfig().to_dict())
    assert all(spec.description for spec in FIELD_SPECS.values())
    assert RUNTIME_FIELDS == {'threshold_blur_kernel', 'threshold_blur_sigma',
                              'noise_blur_kernel', 'noise_blur_sigma', 'nms_radius', 'border',
                              'max_keypoints', 'threshold_scale', 'subpixel',
                              'input_long_side', 'min_source_side', 'nms_mode',
                              'saliency_upsample', 'subpixel_window',
                              # after the network, no rebuild (issue 16)
                              'orientation', 'rotations', 'scale_levels', 'scale_step',
                              'descriptor_centering',
                              # before the network, outside the built front end
                              'input_blur_sigma'}
    assert FIELD_SPECS['preprocessing'].choices == ('auto', 'standardize', 'imagenet')


@pytest.mark.parametrize('changes,field,allowed', [
    ({'backbone': 'resnet9000'}, 'backbone', 'vgg16'),
    ({'detection_layer': 'pool9'}, 'detection_layer', 'pool2'),
    ({'backbone': 'alexnet', 'description_layer': 'pool3'}, 'description_layer', 'pool2'),
    ({'preprocessing': 'caffe'}, 'preprocessing', 'standardize'),
    ({'nms_radius': -1}, 'nms_radius', '0 .. 200'),
    ({'threshold_scale': 4.5}, 'threshold_scale', '0 .. 4'),
    ({'threshold_scale': -0.1}, 'threshold_scale', '0 .. 4'),
    ({'subpixel': 1}, 'subpixel', 'bool'),
    ({'input_long_side': 20}, 'border', 'at most 9'),
    ({'min_source_side': 0}, 'min_source_side', '1 .. 8192'),
    ({'max_keypoints': 1.5}, 'max_keypoints', 'int'),
    ({'threshold_blur_kernel': 4}, 'threshold_blur_kernel', 'odd'),
    ({'device': 'gpu'}, 'device', 'cuda:N'),
    ({'input_width': 640}, 'input_width', 'both'),
    ({'input_width': 64, 'input_height': 48, 'border': 24}, 'border', 'at most 23'),
    ({'half_precision': 'yes'}, 'half_precision', 'bool'),
    ({'weights': ''}, 'weights', 'random'),
    ({'shift_averaging': 0}, 'shift_averaging', '1 .. 16'),
])
def test_validation_names_field_and_allowed_values(changes, field, allowed):
    with pytest.raises(ConfigError) as err:
        DetectorConfig(**changes).validate()
    assert field in str(err.value) and allowed in str(err.value)


def test_unknown_keys_are_rejected_from_yaml_like_mappings():
    with pytest.raises(ConfigError, match='nms_dist'):
        DetectorConfig.from_mapping({'nms_dist': 4})
    c = DetectorConfig.from_mapping({'backbone': 'alexnet', 'nms_radius': 4, 'border': 4})
    assert c.backbone == 'alexnet' and c.nms_radius == 4


def test_presets_are_valid_and_overridable():
    assert {'vgg16', 'vgg19', 'vgg19_paper', 'alexnet', 'efficientnet_lite0',
            'efficientnet_lite1', 'efficientnet_lite2', 'random'} <= set(PRESETS)
    for name in PRESETS:
        assert isinstance(load_preset(name), DetectorConfig)
    c = load_preset('vgg16', weights='random', max_keypoints=100)
    # The VGG presets tap no deeper than conv3_1, so the normalised VGG-19 file serves them.
    assert (c.detection_layer, c.description_layer, c.input_long_side, c.input_width) == (
        'pool2', 'conv3_1', 640, 0)
    lite = load_preset('efficientnet_lite1')
    assert (lite.detection_layer, lite.description_layer, lite.shift_averaging) == (
        'stem_conv', 'stage3,stage5', 2)
    assert c.max_keypoints == 100
    with pytest.raises(ConfigError, match='preset'):
        load_preset('superpoint')


# -- the one NAME=VALUE parser (elf-bag --param, elf-eval/elf-motion --elf-set, benchmarks) --
def test_every_field_parses_its_own_default_back():
    from elf_ros.core import FIELD_KINDS, parse_assignment
    defaults = DetectorConfig()
    for name, kind in FIELD_KINDS.items():
        value = getattr(defaults, name)
        text = str(value).lower() if kind is bool else str(value)
        assert parse_assignment(f'{name}={text}') == (name, value), name
        assert type(parse_assignment(f'{name}={text}')[1]) is kind, name


def test_values_take_the_field_type():
    from elf_ros.core import parse_assignments
    assert parse_assignments(['nms_radius=4', 'threshold_blur_sigma=2', 'subpixel=Yes',
                              'half_precision=0', 'weights= model.pth']) == {
        'nms_radius': 4, 'threshold_blur_sigma': 2.0, 'subpixel': True,
        'half_precision': False, 'weights': 'model.pth'}


@pytest.mark.parametrize('text, message', [
    ('subpixel=flase', 'subpixel: expected true or false'),   # no longer silently False
    ('nms_radius=4.5', "nms_radius: expected int, got '4.5'"),
    ('threshold_scale=high', 'threshold_scale: expected float'),
    ('nms_radius=-1', 'nms_radius: allowed 0 .. 200'),
    ('preprocessing=raw', "preprocessing: allowed 'auto', 'standardize', 'imagenet'"),
    ('no_such_field=1', "unknown detector field 'no_such_field'; allowed: backbone, "),
    ('nms_radius', 'expected NAME=VALUE'),
    ('=4', 'expected NAME=VALUE'),
])
def test_bad_assignments_name_the_field_and_the_accepted_values(text, message):
    from elf_ros.core import parse_assignment
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_assignment(text)


def test_default_preset_builds_and_detects_without_network(monkeypatch):
    """The default preset's weights come from a pip package: no download, so it works offline."""
    import socket

    import numpy as np

    from elf_ros.core import DEFAULT_PRESET, ElfDetector

    def offline(*args, **kwargs):
        raise OSError('network disabled by the test')
    monkeypatch.setattr(socket.socket, 'connect', offline)
    monkeypatch.setattr(socket, 'create_connection', offline)
    detector = ElfDetector(load_preset(DEFAULT_PRESET, device='cpu'))
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    assert len(detector.detect([image])[0].keypoints) > 0
