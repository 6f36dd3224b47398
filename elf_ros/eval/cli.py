"""
Command line of the evaluation: `elf-eval` / `python -m elf_ros.eval` (no ROS needed).

Example, the paper's protocol on the Oxford sequences:
    elf-eval --dataset oxford:../shared/data --out results/oxford
The scoreboard of the docs (`make scoreboard`) adds `--docs FILE` to rewrite their marked blocks.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import platform
import re
import subprocess
import sys
from typing import Any, Iterable

import cv2
import numpy as np

from elf_ros.core import DEFAULT_PRESET, parse_assignments
from elf_ros.eval import datasets as ds
from elf_ros.eval.geometry import Size
from elf_ros.eval.methods import ELF_PREFIX, expand_methods, method_names
from elf_ros.eval.metrics import PIXEL_THRESHOLD
from elf_ros.eval.plots import bars_per_sequence, draw_matches, sweep_curves
from elf_ros.eval.report import breakdown, write_reports
from elf_ros.eval.runner import evaluate, Evaluation, MethodStatus, prepare_methods
from elf_ros.eval.scoreboard import check_blocks, update_docs

# The paper's ELF-VGG and ELF-AlexNet come first: where their ImageNet weights are missing the
# table says so (with the fix) instead of silently leaving them out.
DEFAULT_METHODS = ('elf-vgg16', 'elf-alexnet', ELF_PREFIX + DEFAULT_PRESET,
                   'elf-efficientnet_lite0', 'elf-random', 'sift', 'orb', 'akaze', 'kaze',
                   'brisk', 'elf-efficientnet_lite0+sift')
DATASET_KINDS = ('hpatches', 'oxford', 'synthetic', 'rotation', 'scale')


def parse_size(text: str) -> Size | None:
    """'640x480' -> (640, 480); 'native' keeps each image's own size (HPatches/Oxford only)."""
    if text == 'native':
        return None
    match = re.fullmatch(r'(\d+)x(\d+)', text)
    if not match:
        raise argparse.ArgumentTypeError(f'size must be WIDTHxHEIGHT or native, not {text!r}')
    return int(match[1]), int(match[2])


def parse_weights(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        preset, sep, path = item.partition('=')
        if not sep:
            raise SystemExit(f'--weights expects PRESET=PATH, got {item!r}')
        out[preset.strip().lower()] = path
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='elf-eval', description='Repeatability, matching score and homography accuracy of '
        'ELF and classical detectors (the ELF paper protocol: 640x480, 5 px, greedy matching).')
    parser.add_argument(
        '--dataset', action='append', metavar='KIND:PATH',
        help=f'KIND is one of {", ".join(DATASET_KINDS)}; PATH is a dataset folder (hpatches, '
        'oxford: one sequence or a folder of sequences) or a folder of photographs, or '
        "'skimage' for scikit-image's bundled photographs (synthetic, rotation, scale). "
        'Repeat for several. Default: synthetic:skimage.')
    parser.add_argument('--methods', default=','.join(DEFAULT_METHODS),
                        help="comma-separated; patterns allowed ('elf-*': every ELF preset, "
                        "not the '+sift' hybrids); see --list-methods (default: %(default)s)")
    parser.add_argument('--list-methods', action='store_true', help='print method names, exit')
    parser.add_argument('--out', type=Path, default=Path('eval_results'),
                        help='output folder for results.md, results.json and PNGs')
    parser.add_argument('--size', type=parse_size, default=ds.EVAL_SIZE,
                        help='evaluation size WIDTHxHEIGHT or native (default 640x480)')
    parser.add_argument('--max-keypoints', type=int, default=500,
                        help='keypoints kept per image, strongest first (default 500)')
    parser.add_argument('--pixel-threshold', type=float, default=PIXEL_THRESHOLD,
                        help='pixel distance for a correct match (default 5)')
    parser.add_argument('--pairs-per-image', type=int, default=2,
                        help='synthetic pairs generated per photograph (default 2)')
    parser.add_argument('--images', type=int, default=0,
                        help='use only the first N photographs of a synthetic/sweep source')
    parser.add_argument('--limit', type=int, default=0,
                        help='evaluate only the first N pairs of each dataset (quick runs)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic pairs')
    parser.add_argument('--weights', action='append', default=[], metavar='PRESET=PATH',
                        help='local weights file for an ELF preset (e.g. vgg16=vgg16.pth)')
    parser.add_argument('--device', default='auto', help='ELF device: auto, cpu, cuda, cuda:N')
    parser.add_argument('--elf-set', action='append', default=[], metavar='FIELD=VALUE',
                        help='change a detector-config field of every ELF method, e.g. '
                        'nms_radius=4 or input_width=0 (with input_height=0: native size)')
    parser.add_argument('--match-methods', default='',
                        help="methods drawn in the match figure, or 'none' (default: the first "
                        'ELF and the first classical method that ran)')
    parser.add_argument('--docs', action='append', default=[], type=Path, metavar='FILE',
                        help='Markdown file whose <!-- scoreboard:begin --> ... '
                        '<!-- scoreboard:end --> blocks are rewritten from this run (repeatable)')
    parser.add_argument('--no-plots', action='store_true', help='write only the tables')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    return parser


def photo_source(path: str, limit: int) -> list[tuple[str, np.ndarray]]:
    images = ds.skimage_photographs() if path == 'skimage' else ds.folder_images(Path(path))
    return images[:limit] if limit > 0 else images


def load_dataset(spec: str, args: argparse.Namespace) -> ds.Dataset:
    """Turn 'KIND:PATH' into a Dataset, named after its kind."""
    kind, sep, path = spec.partition(':')
    if not sep or kind not in DATASET_KINDS:
        raise SystemExit(f'--dataset expects KIND:PATH with KIND in {DATASET_KINDS}, got {spec!r}')
    size = args.size or ds.EVAL_SIZE
    if kind == 'hpatches':
        dataset = ds.load_hpatches(Path(path), args.size)
    elif kind == 'oxford':
        dataset = ds.load_oxford(Path(path), args.size)
    elif kind == 'synthetic':
        dataset = ds.synthetic_pairs(photo_source(path, args.images), args.pairs_per_image,
                                     args.seed, size)
    elif kind == 'rotation':
        dataset = ds.rotation_sweep(photo_source(path, args.images), size=size)
    else:
        dataset = ds.scale_sweep(photo_source(path, args.images), size=size)
    dataset.name = kind
    if args.limit > 0:
        dataset.sources = dataset.sources[:args.limit]
    return dataset


def unique_names(datasets: list[ds.Dataset]) -> None:
    """Two datasets of the same kind get a numeric suffix so tables and files stay apart."""
    seen: dict[str, int] = {}
    for d in datasets:
        seen[d.name] = seen.get(d.name, 0) + 1
        if seen[d.name] > 1:
            d.name = f'{d.name}{seen[d.name]}'


def progress_bar(enabled: bool):  # noqa: ANN201
    """Tqdm progress over pairs when asked and installed, else nothing."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None

    def wrap(pairs: Iterable[Any], total: int, name: str) -> Iterable[Any]:
        return tqdm(pairs, total=total, desc=name, unit='pair', file=sys.stderr)
    return wrap


def write_plots(evaluation: Evaluation, out: Path, match_methods: list[str]) -> list[Path]:
    paths = []
    for name, param in evaluation.datasets.items():
        if param:
            per = breakdown(evaluation, name, lambda r: r.param)
            paths.append(sweep_curves(per, param, f'{name} sweep', out / f'{name}_sweep.png'))
        else:
            per = breakdown(evaluation, name, lambda r: r.sequence)
            paths.append(bars_per_sequence(per, f'{name}: mean per sequence',
                                           out / f'{name}_sequences.png'))
        example = evaluation.examples.get(name)
        drawn = [m for m in match_methods if example and m in example.features]
        if drawn:
            paths.append(draw_matches(example, drawn, out / f'{name}_matches.png'))
    return paths


def default_drawn(statuses: list[MethodStatus]) -> list[str]:
    """Draw the first ELF method next to the first classical one, the comparison users want."""
    run = [s.name for s in statuses if s.available]
    elf = [m for m in run if m.startswith(ELF_PREFIX)][:1]
    classical = [m for m in run if not m.startswith(ELF_PREFIX)][:1]
    return (elf + classical) or run[:2]


def program_name() -> str:
    """Name the command as the user typed it: `python -m elf_ros.eval` or `elf-eval`."""
    return 'python -m elf_ros.eval' if sys.argv[0].endswith('__main__.py') else 'elf-eval'


def source_revision() -> str:
    """Git commit of the code that produced the numbers ('' outside a git checkout)."""
    try:
        out = subprocess.run(['git', 'describe', '--always', '--dirty'], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return ''
    return out.stdout.strip() if out.returncode == 0 else ''


def settings_of(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """Collect what reproduces the numbers: command, parameters, library versions."""
    import torch

    return {
        'command': f'{program_name()} ' + ' '.join(argv if argv is not None else sys.argv[1:]),
        'size': list(args.size) if args.size else 'native',
        'max_keypoints': args.max_keypoints, 'pixel_threshold': args.pixel_threshold,
        'pairs_per_image': args.pairs_per_image, 'seed': args.seed,
        'elf_overrides': args.elf_set, 'revision': source_revision(),
        'versions': {'python': platform.python_version(), 'opencv': cv2.__version__,
                     'torch': torch.__version__, 'numpy': np.__version__},
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_methods:
        print('\n'.join(method_names()))
        return 0
    for doc in args.docs:  # fail before the run, not after it
        try:
            check_blocks(doc.read_text(), str(doc))
        except (OSError, ValueError) as exc:
            raise SystemExit(f'--docs: {exc}') from exc
    datasets = [load_dataset(spec, args) for spec in (args.dataset or ['synthetic:skimage'])]
    unique_names(datasets)
    specs = expand_methods(args.methods.split(','))
    try:
        overrides = parse_assignments(args.elf_set)
    except (ValueError, ImportError) as exc:
        raise SystemExit(f'--elf-set: {exc}') from exc
    statuses = prepare_methods(specs, max_keypoints=args.max_keypoints, device=args.device,
                               weights=parse_weights(args.weights), elf_overrides=overrides)
    for status in statuses:
        if not status.available:
            print(f'skipping {status.name}: {status.note}', file=sys.stderr)
    evaluation = evaluate(datasets, statuses, args.pixel_threshold,
                          progress_bar(not args.quiet))
    settings = settings_of(args, argv)
    md_path, json_path = write_reports(evaluation, args.out, settings,
                                       f'Command: `{settings["command"]}`')
    written = [md_path, json_path]
    if not args.no_plots:
        chosen = [m for m in args.match_methods.split(',') if m] or default_drawn(statuses)
        if args.match_methods == 'none':
            chosen = []
        written += write_plots(evaluation, args.out, chosen)
    if args.docs:
        written += update_docs(args.docs, json.loads(json_path.read_text()))
    print(md_path.read_text())
    print('wrote ' + ', '.join(str(p) for p in written), file=sys.stderr)
    return 0
