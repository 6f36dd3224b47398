"""Bad input to `elf-bag`: a clear error, exit status 2, and never a half-written bag."""
import os
from pathlib import Path
import signal
import threading
import time

import cv2
import pytest
import yaml

from elf_ros.bag.cli import main
from elf_ros.bag.pack import image_message, write_bag

from .bagdata import FAST, make_bag, rgb, string_msg


@pytest.fixture(scope='module')
def bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('bad') / 'in'
    make_bag(path, 'mcap')
    return path


def run(capsys, *args: str) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith('.'))


def test_missing_bag(tmp_path, capsys):
    code, err = run(capsys, 'process', tmp_path / 'nope', tmp_path / 'out', *FAST)
    assert code == 2 and 'does not exist' in err
    assert not (tmp_path / 'out').exists()
    code, err = run(capsys, 'info', tmp_path / 'nope')
    assert code == 2 and 'does not exist' in err


def test_folder_that_is_not_a_bag(tmp_path, capsys):
    (tmp_path / 'photos').mkdir()
    code, err = run(capsys, 'process', tmp_path / 'photos', tmp_path / 'out', *FAST)
    assert code == 2 and 'not a rosbag2 folder' in err


@pytest.mark.parametrize('name', ['broken.mcap', 'broken.db3'])
def test_unreadable_bag_file(tmp_path, capsys, name):
    (tmp_path / name).write_bytes(b'this is not a bag' * 10)
    code, err = run(capsys, 'process', tmp_path / name, tmp_path / 'out', *FAST)
    assert code == 2 and 'cannot read bag' in err
    assert not (tmp_path / 'out').exists() and leftovers(tmp_path) == []


def test_unknown_and_non_image_topics(bag, tmp_path, capsys):
    code, err = run(capsys, 'process', bag, tmp_path / 'out', *FAST, '--topics', '/nope')
    assert code == 2 and '/nope is not in the bag' in err and '/cam/image_raw' in err
    code, err = run(capsys, 'process', bag, tmp_path / 'out', *FAST, '--topics', '/chatter')
    assert code == 2 and 'std_msgs/msg/String, not an image' in err
    assert not (tmp_path / 'out').exists()


def test_bag_without_images(tmp_path, capsys):
    write_bag(tmp_path / 'in', [('/chatter', 1, string_msg('hi'))])
    code, err = run(capsys, 'process', tmp_path / 'in', tmp_path / 'out', *FAST)
    assert code == 2 and 'no sensor_msgs/Image or CompressedImage topic' in err


def test_only_unsupported_frames_write_nothing(bag, tmp_path, capsys):
    code, err = run(capsys, 'process', bag, tmp_path / 'out', *FAST, '--topics', '/bad/image',
                    '--no-progress')
    assert code == 2 and 'no frame could be processed' in err and '32FC1' in err
    assert not (tmp_path / 'out').exists() and leftovers(tmp_path) == []


def test_existing_output_is_refused_unless_overwrite(bag, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    code, err = run(capsys, 'process', bag, out, *FAST, '--topics', '/cam/image_raw')
    assert code == 2 and 'exists; use --overwrite' in err
    assert (out / 'keep.txt').read_text() == 'mine'
    code, _ = run(capsys, 'process', bag, out, *FAST, '--topics', '/cam/image_raw',
                  '--overwrite', '--no-progress')
    assert code == 0
    assert not (out / 'keep.txt').exists() and (out / 'metadata.yaml').is_file()
    assert leftovers(tmp_path) == []


def test_output_inside_or_equal_to_the_input_is_refused(bag, capsys):
    for out in (bag, bag / 'sub'):
        code, err = run(capsys, 'process', bag, out, *FAST, '--overwrite')
        assert code == 2 and 'overlaps the input' in err
    assert (bag / 'metadata.yaml').is_file()


def test_clashing_outputs_are_refused(tmp_path, capsys):
    frame = image_message(rgb(0), 'rgb8', 1)
    write_bag(tmp_path / 'in', [('/cam/image_raw', 1, frame), ('/cam/image_rect', 2, frame)])
    code, err = run(capsys, 'process', tmp_path / 'in', tmp_path / 'out', *FAST)
    assert code == 2 and 'same namespace' in err and '--topics' in err


def test_bad_detector_settings(bag, tmp_path, capsys):
    code, err = run(capsys, 'process', bag, tmp_path / 'out', *FAST, '-p', 'nms_radius=-1')
    assert code == 2 and 'nms_radius' in err
    code, err = run(capsys, 'process', bag, tmp_path / 'out', '-p', 'no_such_field=1')
    assert code == 2 and 'unknown detector field' in err
    params = tmp_path / 'p.yaml'
    params.write_text('/**:\n  ros__parameters:\n    preset: random\n    border: "wide"\n')
    code, err = run(capsys, 'process', bag, tmp_path / 'out', '--params-file', params)
    assert code == 2 and 'border' in err
    code, err = run(capsys, 'process', bag, tmp_path / 'out', '--params-file', tmp_path / 'x')
    assert code == 2 and 'params file' in err
    assert not (tmp_path / 'out').exists()


def test_params_file_in_the_node_format(bag, tmp_path, capsys):
    params = tmp_path / 'p.yaml'
    fields = {'preset': 'random', 'input_width': 96, 'input_height': 72, 'border': 4,
              'nms_radius': 4, 'max_keypoints': 7, 'device': 'cpu', 'image_topics': ['a/image']}
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': fields}}))
    code, err = run(capsys, 'process', bag, tmp_path / 'out', '--params-file', params,
                    '--topics', '/cam/image_raw', '--no-progress', '--outputs', 'keypoints')
    assert code == 0, err
    assert 'node-only parameters not used offline: image_topics' in err
    from rosbags.rosbag2 import Reader

    from elf_ros.bag.typestore import elf_typestore
    with Reader(tmp_path / 'out') as reader:
        counts = [len(elf_typestore().deserialize_cdr(raw, c.msgtype).keypoints)
                  for c, _, raw in reader.messages()]
    assert len(counts) == 2 and max(counts) == 7   # max_keypoints from the file applies


def test_interrupt_leaves_no_output(bag, tmp_path, capsys):
    """A real SIGINT mid-run: exit 130, no output, staging folder removed."""
    # 1000 small frames: seconds of work after the first output file appears, so the
    # interrupt lands mid-run even when a loaded machine schedules the killer late.
    small = [cv2.resize(rgb(i), (96, 72), interpolation=cv2.INTER_AREA) for i in range(10)]
    frames = [('/cam/image_raw', i + 1, image_message(small[i % 10], 'rgb8', i + 1))
              for i in range(1000)]
    write_bag(tmp_path / 'long', frames)
    out = tmp_path / 'out'

    def interrupt_when_writing():
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob('.out.partial-*/out/*')) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    killer = threading.Thread(target=interrupt_when_writing)
    # Ctrl-C as in a terminal, even when the test run was started in the background (a
    # non-interactive shell's `cmd &` starts it with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    killer.start()
    try:
        code, err = run(capsys, 'process', tmp_path / 'long', out, *FAST, '--batch', '1',
                        '--no-progress')
    finally:
        killer.join()
        signal.signal(signal.SIGINT, previous)
    assert code == 130 and 'interrupted' in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_info_lists_image_topics_and_the_rest(bag, tmp_path, capsys):
    code = main(['info', str(bag)])
    out = capsys.readouterr().out
    assert code == 0
    assert '/cam/image_raw  [Image]  2 messages' in out
    assert 'encodings: rgb8 (2)' in out and 'sizes: 640x480 (2)' in out
    assert '/comp/image_raw/compressed  [CompressedImage]  2 messages' in out
    assert 'formats: png (2)' in out and '/bad/image  [Image]' in out and '32FC1 (2)' in out
    assert '/chatter  [std_msgs/msg/String]  1 messages' in out
    write_bag(tmp_path / 'strings', [('/chatter', 1, string_msg('hi'))])
    assert main(['info', str(tmp_path / 'strings')]) == 0
    assert 'image topics: none' in capsys.readouterr().out


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_truncated_bag(tmp_path, capsys, storage):
    """A recording cut short (disk full, killed recorder): refused with the reason."""
    frames = [('/cam/image_raw', i + 1, image_message(rgb(i), 'rgb8', i + 1)) for i in range(4)]
    write_bag(tmp_path / 'in', frames, storage)
    data_file, = (p for p in (tmp_path / 'in').iterdir() if p.suffix in ('.mcap', '.db3'))
    data = data_file.read_bytes()
    data_file.write_bytes(data[:len(data) * 6 // 10])
    for args in (['info', tmp_path / 'in'], ['process', tmp_path / 'in', tmp_path / 'out', *FAST]):
        code, err = run(capsys, *args)
        assert code == 2 and 'cannot read bag' in err
    assert not (tmp_path / 'out').exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize('name', ['elf.yaml', 'efficientnet_lite0.yaml'])
def test_the_nodes_own_params_files_give_their_values(repo_root, name):
    from elf_ros.bag.params import make_config
    from elf_ros.core import FIELD_SPECS, load_preset
    path = repo_root / 'config' / name
    written = yaml.safe_load(path.read_text())['/**']['ros__parameters']
    config, ignored = make_config(params_file=path)
    for field, value in written.items():
        if field in FIELD_SPECS:
            assert getattr(config, field) == value, field
        elif field != 'preset':
            assert field in ignored
    # Fields the file leaves out come from its preset, as in the node.
    assert config == load_preset(written['preset'], **{
        k: v for k, v in written.items() if k in FIELD_SPECS})
