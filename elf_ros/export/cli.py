"""
Command line of `elf-export`: write the front end of a preset as an ONNX file.

The file maps images (B, 3, H, W) float32 on the 0..255 scale at the network size to the
saliency (B, H, W) and the description maps, with the input gradient as forward operations;
keypoint selection and descriptor sampling stay in torch. Run it with the detector fields
``runtime: onnxruntime`` (or ``openvino``) and ``exported_model: PATH`` (node, elf-bag, elf-bench),
or build a TensorRT engine from it (docs/core.md, "Exported front end").
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys

from elf_ros.core import (
    ConfigError,
    DEFAULT_PRESET,
    export_front_end,
    load_preset,
    parse_assignments,
    PRESETS,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='elf-export', description=__doc__.strip().splitlines()[0])
    p.add_argument('output', help='ONNX file to write')
    p.add_argument('--preset', default=DEFAULT_PRESET, choices=sorted(PRESETS))
    p.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                   help='override a detector field (e.g. weights=/path/vgg19.pth)')
    p.add_argument('--width', type=int, default=640, help='example (or fixed) input width')
    p.add_argument('--height', type=int, default=480, help='example (or fixed) input height')
    p.add_argument('--fixed-size', action='store_true',
                   help='fix height and width in the graph (TensorRT builds a tighter engine); '
                   'default: dynamic height and width; the batch is always dynamic')
    p.add_argument('--check', action='store_true',
                   help='run the file with ONNX Runtime on the CPU and compare with torch')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = parse_assignments(args.set)
        config = load_preset(args.preset, **overrides, device='cpu', runtime='forward')
        report = export_front_end(config, Path(args.output), args.height, args.width,
                                  fixed_size=args.fixed_size, check=args.check)
    except (ConfigError, ValueError, RuntimeError) as exc:
        print(f'elf-export: {exc}', file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
