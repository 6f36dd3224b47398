"""
`elf-bag` (`python -m elf_ros.bag`): ELF features for recorded rosbag2 files, no ROS install.

Exit status: 0 done, 2 bad input (missing/unreadable bag, unknown topic, no convertible frame,
existing output without --overwrite, bad detector settings), 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import signal
import sys

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from elf_ros.bag.messages import DESCRIPTOR_FORMATS
    from elf_ros.bag.naming import OUTPUT_KINDS
    from elf_ros.bag.process import STORAGES
    from elf_ros.core import DEFAULT_PRESET, PRESETS

    parser = argparse.ArgumentParser(prog='elf-bag', description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('process', help='detect features in a bag, write them as a new bag')
    p.add_argument('input', type=Path, help='rosbag2 folder, or a .mcap / .db3 file')
    p.add_argument('output', type=Path, help='new rosbag2 folder to write')
    p.add_argument('--topics', nargs='+', metavar='T',
                   help='image topics to process (default: every Image/CompressedImage topic)')
    cfg = p.add_mutually_exclusive_group()
    cfg.add_argument('--preset', choices=list(PRESETS),
                     help=f"detector preset (default: the node's, {DEFAULT_PRESET})")
    cfg.add_argument('--params-file', type=Path, metavar='YAML',
                     help="the node's parameter file (config/*.yaml); its detector fields apply")
    p.add_argument('-p', '--param', action='append', default=[], metavar='NAME=VALUE',
                   help='set one detector field, e.g. -p max_keypoints=1000 (repeatable)')
    p.add_argument('--batch', type=int, default=8, help='frames per detector call (default 8)')
    p.add_argument('--device', help="'cpu', 'cuda', 'cuda:N' or 'auto' (default: the config's)")
    p.add_argument('--threads', type=int, default=0, help='torch/OpenCV CPU threads (0 = keep)')
    p.add_argument('--outputs', nargs='+', choices=OUTPUT_KINDS, default=['features'],
                   help='messages per frame: features (elf_ros/Features), keypoints '
                   '(KeypointArray), descriptors (DescriptorArray), tracks (VINS feature '
                   'tracks, sensor_msgs/PointCloud; needs the camera_info topic in the bag); '
                   'default features')
    p.add_argument('--descriptor-format', choices=DESCRIPTOR_FORMATS, default='float32',
                   help='descriptor payload of Features messages (default float32)')
    p.add_argument('--copy-inputs', action='store_true',
                   help='also copy the processed image messages into the output bag')
    p.add_argument('--storage', choices=list(STORAGES), default='mcap',
                   help='storage format of the output (default mcap)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--json', type=Path, metavar='FILE', help='also write the summary as JSON')

    i = sub.add_parser('info', help='image topics of a bag: counts, encodings, sizes')
    i.add_argument('input', type=Path, help='rosbag2 folder, or a .mcap / .db3 file')
    return parser


def _terminate(signum, frame) -> None:
    """SIGTERM ends the run like Ctrl-C does, so the partial output is removed."""
    raise KeyboardInterrupt


def _process(args: argparse.Namespace) -> int:
    from elf_ros.bag.params import make_config
    from elf_ros.bag.process import preflight, process_bag, ProcessOptions
    from elf_ros.core import ConfigError, ElfDetector, parse_assignments

    try:
        overrides = parse_assignments(args.param)
    except ConfigError as err:
        raise ConfigError(f'--param: {err}') from None
    if args.device:
        overrides['device'] = args.device
    config, ignored = make_config(args.preset, args.params_file, overrides)
    if ignored:
        print(f'note: node-only parameters not used offline: {", ".join(ignored)}',
              file=sys.stderr)
    if args.threads:
        from elf_ros.core import set_cpu_threads  # noqa: PLC0415 - torch on demand
        set_cpu_threads(args.threads)
    options = ProcessOptions(
        topics=args.topics, outputs=tuple(dict.fromkeys(args.outputs)), batch=args.batch,
        storage=args.storage, copy_inputs=args.copy_inputs, overwrite=args.overwrite,
        descriptor_format=args.descriptor_format, progress=not args.no_progress)
    preflight(args.input, args.output, options)  # bad input fails before a network loads
    detector = ElfDetector(config)
    summary = process_bag(args.input, args.output, detector, options)
    print(summary.text())
    if args.json:
        args.json.write_text(json.dumps(summary.to_dict(), indent=2) + '\n')
    return 0


def _info(args: argparse.Namespace) -> int:
    from elf_ros.bag.info import format_report, image_report
    print(format_report(*image_report(args.input)))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        import tqdm  # noqa: F401 - checked here so a missing one is named, not a traceback

        from elf_ros.bag.reader import BagError
    except ModuleNotFoundError as err:
        print(f'elf-bag: error: needs the Python package {err.name!r} '
              "(pip install 'elf_ros[bag]', or requirements/core.txt)", file=sys.stderr)
        return 1
    from elf_ros.core import ConfigError, WeightsError

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _process(args) if args.command == 'process' else _info(args)
    except (BagError, ConfigError, WeightsError, FileNotFoundError) as err:
        print(f'elf-bag: error: {err}', file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print('elf-bag: interrupted; no output written', file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
