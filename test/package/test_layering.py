"""
The layers and who may import whom (README "Architecture"), read from the source's imports.

core: nothing of ours outside core, nothing ROS. formats, bag, eval, bench: never elf_ros.ros
(nor rclpy). Outside the core, core names come through the facade `elf_ros.core`. No module
imports a command-line module (`cli`) except the `__main__` that runs it. The node's ROS-free
parts (the detector slot, the builder) import no ROS, so their unit tests run without it.
"""
import ast
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / 'elf_ros'
ROS_MODULES = ('rclpy', 'rosidl_runtime_py', 'rcl_interfaces', 'sensor_msgs', 'std_msgs',
               'diagnostic_msgs', 'geometry_msgs', 'builtin_interfaces', 'launch', 'launch_ros')
ROS_FREE_IN_ROS = ('elf_ros/ros/slot.py', 'elf_ros/ros/rebuild.py')


def imports_of(path: Path) -> list[str]:
    """Every module a file imports, anywhere in it (functions included), as dotted names."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            # `from elf_ros.bag import cli` imports the module elf_ros.bag.cli
            names += [f'{node.module}.{alias.name}' for alias in node.names
                      if (PACKAGE.parent / node.module.replace('.', '/') / f'{alias.name}.py')
                      .is_file()]
    return names


def files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob('*.py'))


def offences(paths: list[Path], bad) -> list[str]:
    return [f'{p.relative_to(REPO)} imports {name}'
            for p in paths for name in imports_of(p) if bad(name)]


def _under(name: str, *roots: str) -> bool:
    return any(name == r or name.startswith(r + '.') for r in roots)


def test_rules_see_the_imports_they_judge():
    """The import reader finds module-level, function-level and `from package import module`."""
    node = imports_of(PACKAGE / 'ros' / 'node.py')
    assert 'rclpy.node' in node and 'elf_ros.ros.slot' in node
    replay = imports_of(PACKAGE / 'ros' / 'replay.py')
    assert 'elf_ros.bag.reader' in replay  # imported inside a function
    assert 'elf_ros.bag.cli' in imports_of(PACKAGE / 'bag' / '__main__.py')


def test_core_imports_nothing_of_ours_outside_core_and_nothing_ros():
    assert offences(files('core'), lambda n: (_under(n, 'elf_ros')
                                              and not _under(n, 'elf_ros.core'))
                    or _under(n, *ROS_MODULES)) == []


@pytest.mark.parametrize('layer', ['formats', 'bag', 'eval', 'bench'])
def test_ros_free_layers_never_import_ros(layer):
    assert offences(files(layer), lambda n: _under(n, 'elf_ros.ros', 'elf_ros.msg', 'rclpy')
                    or (layer != 'bag' and _under(n, *ROS_MODULES))) == []


def test_the_node_s_ros_free_parts_import_no_ros():
    paths = [REPO / p for p in ROS_FREE_IN_ROS]
    assert offences(paths, lambda n: _under(n, 'elf_ros.msg', *ROS_MODULES)) == []
    code = ('import sys, elf_ros.ros.slot, elf_ros.formats.images, elf_ros.formats.compressed, '
            'elf_ros.formats.topics\n'
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            f'{ROS_MODULES!r})\n'
            'assert not bad, bad')
    run = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_outside_code_reaches_the_core_through_its_facade():
    outside = [p for p in PACKAGE.rglob('*.py') if 'core' not in p.relative_to(PACKAGE).parts]
    outside += [REPO / 'launch' / 'elf.launch.py', *sorted((REPO / 'scripts').glob('elf_*'))]
    assert offences(outside, lambda n: _under(n, 'elf_ros.core')
                    and n != 'elf_ros.core'
                    and n.removeprefix('elf_ros.core.') not in _facade_names()) == []


def _facade_names() -> set[str]:
    """
    Names the facade exports (`__all__`): `from elf_ros.core import benchmark` is the facade's.

    A name that is also a submodule's file name (opencv_descriptors) is the facade's too.
    """
    init = ast.parse((PACKAGE / 'core' / '__init__.py').read_text(encoding='utf-8'))
    for node in init.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == '__all__'
                                                for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError('elf_ros/core/__init__.py has no __all__')


def test_nothing_imports_a_command_line_module():
    every = sorted(PACKAGE.rglob('*.py'))
    assert offences([p for p in every if p.name != '__main__.py'],
                    lambda n: n.split('.')[-1] == 'cli') == []
