"""colcon builds the package from a clean copy of the tree, messages included."""
import os
from pathlib import Path
import shutil
import subprocess

import pytest

if shutil.which('colcon') is None:
    pytest.skip('colcon not on PATH (source scripts/ros_env.sh)', allow_module_level=True)


def _copy_package(repo: Path, dest: Path) -> None:
    """Copy what git would ship (tracked and new, not ignored): no build/ or install/ leftovers."""
    listed = subprocess.run(['git', 'ls-files', '-z', '-co', '--exclude-standard'], cwd=repo,
                            check=True, capture_output=True).stdout.split(b'\0')
    for name in filter(None, listed):
        source = repo / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.mark.slow
def test_clean_tree_builds_and_generated_messages_import(repo_root, tmp_path):
    source, workspace = tmp_path / 'src' / 'elf_ros', tmp_path / 'ws'
    _copy_package(repo_root, source)
    build = subprocess.run([str(repo_root / 'scripts' / 'colcon_build.sh'), str(source),
                            str(workspace)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert '1 package finished' in build.stdout

    install = workspace / 'install'
    share = install / 'elf_ros' / 'share' / 'elf_ros'
    for name in ('Keypoint', 'KeypointArray', 'DescriptorArray'):
        assert (share / 'msg' / f'{name}.msg').is_file()
    assert (share / 'package.xml').is_file()
    assert (install / 'elf_ros' / 'lib' / 'elf_ros' / 'elf_node').is_file()

    # Only the new install on the path: the generated module and our sources side by side.
    probe = ('import elf_ros, elf_ros.msg as m; '
             'print(elf_ros.__version__, m.DescriptorArray(rows=2, cols=3).rows, '
             'm.KeypointArray().keypoints)')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'AMENT_PREFIX_PATH')}
    env['AMENT_PREFIX_PATH'] = os.environ.get('VIRTUAL_ENV', '')
    run = subprocess.run(['bash', '-c', f'source {install}/setup.bash && python -c "{probe}"'],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ['0.1.0', '2', '[]']
