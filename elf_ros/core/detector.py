"""
ElfDetector: batches of uint8 images in, ELF keypoints, scores and descriptors out.

Everything from the uint8 upload to top-k runs on the detector's device; each group of images
with the same network input size is one batch, and its results cross to the host in a single
packed transfer (plus the saliency maps when asked).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core.backbones import build_backbone
from elf_ros.core.config import ConfigError, DetectorConfig, ENGINE_RUNTIMES, RUNTIME_FIELDS
from elf_ros.core.cuda_graph import CUDA_CAPTURE_LOCK, GraphCache
from elf_ros.core.front_end import normalise_images, upsample_for_detection
from elf_ros.core.orientation import (
    CENTROID_RADIUS,
    Describer,
    NOT_ESTIMATED_ANGLE,
    NOT_ESTIMATED_SIZE,
    oriented_descriptors,
)
from elf_ros.core.postprocess import (
    blur_images,
    gaussian_kernel1d,
    gaussian_taps,
    keypoints_from_saliency,
    map_means,
    sample_descriptor_maps,
)
from elf_ros.core.pyramid import level_factors, merge_levels
from elf_ros.core.runtime import (
    copy_describer,
    engine_front_end,
    make_front_end,
    resolve_runtime,
)
from elf_ros.core.saliency import elf_saliency, shift_offsets
from elf_ros.core.stages import Clock, no_clock

MIN_SIDE = 8
# NMS rounds inside a CUDA graph; photos needed 4-6 here; more falls back to the exact loop.
GRAPH_NMS_ROUNDS = 10


@dataclass
class ElfResult:
    """Detections for one image, in the source image's pixel frame (x right, y down)."""

    keypoints: np.ndarray            # (N, 2) float32 [x, y]
    scores: np.ndarray               # (N,) float32 in [0, 1], descending
    descriptors: np.ndarray          # (N, D) float32, L2-normalised rows
    saliency: np.ndarray | None      # (H, W) float32 in [0, 1] at source size, when asked
    threshold: float                 # threshold applied (threshold_scale x Kapur's), in [0, 1]
    # OpenCV KeyPoint meanings: size = diameter (source px) of the keypoint's neighbourhood, 31
    # network pixels of the scale level it was found on (the disc its angle was measured on),
    # 0 when not estimated (upright, one level); angle in degrees [0, 360) from +x towards +y
    # (clockwise on screen), -1 when not estimated (orientation 'upright').
    sizes: np.ndarray | None = None          # (N,) float32
    angles: np.ndarray | None = None         # (N,) float32
    # With an orientation, the upright descriptors too (N, D), so a matcher can pick per pair.
    upright_descriptors: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.keypoints)
        if self.sizes is None:
            self.sizes = np.full(n, NOT_ESTIMATED_SIZE, np.float32)
        if self.angles is None:
            self.angles = np.full(n, NOT_ESTIMATED_ANGLE, np.float32)

    def __len__(self) -> int:
        return len(self.keypoints)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present else CPU; a CUDA request without CUDA is a config error."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dev = torch.device(name)
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name!r} requested but CUDA is not available; use 'cpu'"
                              " or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f'device: {name!r} does not exist; '
                              f'{torch.cuda.device_count()} CUDA device(s) present')
    return dev


class ElfDetector:
    """The ELF detector of a :class:`DetectorConfig`; builds its backbone once."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = (config or DetectorConfig()).replace().validate()
        self.device = resolve_device(self.config.device)
        # A node rebuilds its detector while its worker may be capturing a CUDA graph.
        cuda = self.device.type == 'cuda'
        with CUDA_CAPTURE_LOCK if cuda else contextlib.nullcontext():
            self._build()

    def _build(self) -> None:
        c = self.config
        # What runs the front end: config.runtime, with 'auto' resolved for this device;
        # runtime_note says why 'auto' fell back to autograd ('' when it did not).
        self.runtime = resolve_runtime(c, self.device)
        self.runtime_note = ''
        self._describer: Describer | None = None
        self.half = c.half_precision and self.device.type == 'cuda' and (
            self.runtime not in ENGINE_RUNTIMES)
        self.preprocessing = 'imagenet' if c.preprocessing == 'auto' else c.preprocessing
        self._offsets = shift_offsets(c.shift_averaging)
        if c.exported_model:
            self._build_exported()
        else:
            self._build_network()
        self._mean = torch.tensor(self.backbone.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.backbone.std, device=self.device).view(1, 3, 1, 1)
        self._standard = [torch.tensor(v, device=self.device).view(1, 3, 1, 1) for v in
                          (self.backbone.standard_scale, self.backbone.standard_shift)]
        # CUDA graphs capture torch kernels only: not an engine's or a compiled module's calls.
        use_graphs = (self.device.type == 'cuda' and c.cuda_graphs
                      and self.runtime in ('autograd', 'forward', 'bf16'))
        self._graphs = GraphCache(self.device) if use_graphs else None
        self._make_kernels()

    def _build_network(self) -> None:
        self.backbone = build_backbone(self.config)
        # channels_last: faster convolutions with oneDNN on CPU and cuDNN on CUDA.
        net = self.backbone.network.to(self.device, memory_format=torch.channels_last)
        if self.device.type == 'cuda':
            torch.backends.cudnn.benchmark = True
        self.network = net.half() if self.half else net
        from elf_ros.core.export import front_end_metadata  # noqa: PLC0415 - import cycle
        size = ((self.config.input_height, self.config.input_width)
                if self.config.input_width else None)
        metadata = front_end_metadata(self.config, self.backbone, self.preprocessing, size)
        try:
            self._make_front(metadata)
        except Exception as err:  # noqa: BLE001 - 'auto' must not stop what autograd can run
            if self.config.runtime != 'auto' or self.runtime == 'autograd':
                raise
            self.runtime_note = (f'auto: {self.runtime} could not be built ({type(err).__name__}'
                                 f': {err}); running autograd')
            self.runtime = 'autograd'
            self._make_front(metadata)

    def _make_front(self, metadata: dict) -> None:
        """Build the front end of ``self.runtime`` over the torch network."""
        # autograd's front end is the plain pass; the others hold the fine pass when asked
        self._front_upsample = (1.0 if self.runtime == 'autograd'
                                else self.config.saliency_upsample)
        self._front = make_front_end(self.runtime, self.backbone, metadata,
                                     self.preprocessing, self._offsets, self.half, self.device,
                                     self._front_upsample)

    def _build_exported(self) -> None:
        """Run an elf-export file: its metadata replaces the torch network's description."""
        from elf_ros.core.export import (  # noqa: PLC0415 - import cycle
            backbone_from_metadata,
            check_matches,
            config_graph_fields,
            read_metadata,
        )
        metadata = read_metadata(self.config.exported_model)
        check_matches(metadata, self.config, config_graph_fields(self.config))
        self.backbone = backbone_from_metadata(metadata)
        self.network = None
        self._front_upsample = float(metadata['fields'].get('saliency_upsample', 1.0))
        self._front = engine_front_end(self.runtime, self.config.exported_model,
                                       self.device)

    # --- public API ----------------------------------------------------------------------------

    @property
    def descriptor_dim(self) -> int:
        return self.backbone.descriptor_dim

    def serves_upsample(self, factor: float) -> bool:
        """
        Tell whether ``saliency_upsample: factor`` runs on this detector's built front end.

        autograd runs any factor as fast as it can; an exported, compiled or traced front end
        holds one fine pass, and another factor falls back to autograd (slower: rebuild instead).
        """
        return self.runtime == 'autograd' or factor == self._front_upsample

    def update(self, **changes: object) -> None:
        """Change runtime (post-processing) fields without rebuilding the network."""
        rebuild = sorted(set(changes) - RUNTIME_FIELDS)
        if rebuild:
            raise ConfigError(
                f'cannot change {rebuild} at runtime (needs a new detector); runtime fields: '
                + ', '.join(sorted(RUNTIME_FIELDS)))
        config = self.config.replace(**changes).validate()
        if self.network is None and config.saliency_upsample != self._front_upsample:
            raise ConfigError(
                f'saliency_upsample: the exported_model was exported with '
                f'{self._front_upsample}; export again (elf-export) for '
                f'{config.saliency_upsample}')
        self.config = config
        self._make_kernels()
        if self._graphs is not None:
            self._graphs.clear()              # captured graphs hold the old parameters

    def detect(self, images: Sequence[np.ndarray], return_saliency: bool = False,
               clock: Clock = no_clock) -> list[ElfResult]:
        """
        Detect and describe on a batch of HxW (gray) or HxWx3 (RGB) uint8 images.

        ``clock`` (a :class:`elf_ros.core.stages.StageClock`) times each stage; with one, CUDA
        runs eagerly (no graphs) so that stages can be told apart.
        """
        arrays = [self._check_image(i, img) for i, img in enumerate(images)]
        c = self.config
        if c.scale_levels == 1:
            return self._detect_level(arrays, return_saliency, 1.0, clock)  # type: ignore[return-value]
        levels = [self._detect_level(arrays, return_saliency and k == 0, factor, clock)
                  for k, factor in enumerate(level_factors(c.scale_levels, c.scale_step))]
        return [merge_levels(per_image, c.max_keypoints)
                for per_image in zip(*levels, strict=True)]

    def _detect_level(self, arrays: list[np.ndarray], return_saliency: bool, factor: float,
                      clock: Clock = no_clock) -> list[ElfResult | None]:
        """One scale level (network size x ``factor``); None for images too small for it."""
        results: list[ElfResult | None] = [None] * len(arrays)
        for net_size, members in self._group(arrays, factor).items():
            if net_size is None:
                continue
            order = [i for idx in members.values() for i in idx]
            packed, sal = self._run_group(arrays, members, net_size, clock)
            src_sizes = [arrays[i].shape[:2] for i in order]
            with clock('unpack'):
                out = self._unpack(packed, sal if return_saliency else None, src_sizes,
                                   net_size)
            for i, res in zip(order, out, strict=True):
                results[i] = res
        return results

    # --- internals -------------------------------------------------------------------------------

    def _make_kernels(self) -> None:
        c = self.config
        self._k_thr = gaussian_kernel1d(c.threshold_blur_kernel, c.threshold_blur_sigma,
                                        self.device)
        self._k_noise = gaussian_kernel1d(c.noise_blur_kernel, c.noise_blur_sigma, self.device)
        self._k_input = gaussian_taps(c.input_blur_sigma, self.device)

    def _net_size(self, h: int, w: int) -> tuple[int, int]:
        """Network input (h, w): fixed size, else long side (never upscaled), else native."""
        c = self.config
        if c.input_width:
            return c.input_height, c.input_width
        long_side = max(h, w)
        if c.input_long_side and long_side > c.input_long_side:
            scale = c.input_long_side / long_side
            return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))
        return h, w

    def _check_image(self, i: int, img: np.ndarray) -> np.ndarray:
        if not isinstance(img, np.ndarray):
            raise TypeError(f'image {i}: expected a numpy array, got {type(img).__name__}')
        if img.dtype != np.uint8:
            raise ValueError(f'image {i}: expected dtype uint8, got {img.dtype}')
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
            raise ValueError(f'image {i}: expected HxW or HxWx3, got shape {img.shape}')
        if img.size == 0:
            raise ValueError(f'image {i}: empty image of shape {img.shape}')
        sh, sw = img.shape[:2]
        if min(sh, sw) < self.config.min_source_side:
            raise ValueError(
                f'image {i}: {sw}x{sh} is too small; ELF needs at least '
                f'{self.config.min_source_side} px on the shorter side (min_source_side)')
        h, w = self._net_size(sh, sw)
        need = max(MIN_SIDE, self.backbone.max_stride, self.config.border * 2 + 1)
        if min(h, w) < need:
            raise ValueError(
                f'image {i}: network input {w}x{h} is too small; need at least {need}x{need} '
                f'for {self.config.backbone} {self.backbone.detection_layer}/'
                f'{self.backbone.description_layer} with border {self.config.border}')
        return np.ascontiguousarray(img)

    def _group(self, arrays: list[np.ndarray], factor: float = 1.0
               ) -> dict[tuple[int, int] | None, dict[tuple[int, ...], list[int]]]:
        """Network size (x ``factor``; None: too small) -> source shape -> image indices."""
        groups: dict[tuple[int, int] | None, dict[tuple[int, ...], list[int]]] = {}
        need = max(MIN_SIDE, self.backbone.max_stride, self.config.border * 2 + 1)
        for i, a in enumerate(arrays):
            h, w = self._net_size(*a.shape[:2])
            if factor != 1.0:
                h, w = max(1, round(h * factor)), max(1, round(w * factor))
            key = (h, w) if min(h, w) >= need else None
            groups.setdefault(key, {}).setdefault(a.shape, []).append(i)
        return groups

    def _upload(self, arrays: list[np.ndarray], idx: list[int], net_size: tuple[int, int]
                ) -> torch.Tensor:
        """Stack same-shape uint8 images, upload, and resize on the device -> (B, 3, h, w)."""
        batch = torch.from_numpy(np.stack([arrays[i] for i in idx]))
        return self._prepare(batch.to(self.device, non_blocking=True), net_size)

    def _prepare(self, u8: torch.Tensor, net_size: tuple[int, int]) -> torch.Tensor:
        """(B, H, W[, 3]) uint8 on the device -> (B, 3, h, w) float32, network size, input blur."""
        x = u8.unsqueeze(-1).expand(*u8.shape, 3) if u8.dim() == 3 else u8
        x = x.permute(0, 3, 1, 2).float()
        if tuple(x.shape[-2:]) != net_size:
            x = F.interpolate(x, size=net_size, mode='bilinear', align_corners=False)
        if self._k_input is None:
            return x
        return blur_images(x, self.config.input_blur_sigma, self._k_input)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return normalise_images(x, self.preprocessing, self._mean, self._std, *self._standard)

    def _run_group(self, arrays: list[np.ndarray], members: dict[tuple[int, ...], list[int]],
                   net_size: tuple[int, int], clock: Clock = no_clock
                   ) -> tuple[np.ndarray, torch.Tensor]:
        """Run one network-size group: a CUDA graph when possible, else eagerly."""
        if self._graphs is not None and len(members) == 1 and clock is no_clock:
            idx = next(iter(members.values()))
            batch = torch.from_numpy(np.stack([arrays[i] for i in idx]))
            key = (tuple(batch.shape), net_size)
            packed, sal, unfinished = self._graphs.run(
                key, lambda u8: self._pipeline(self._prepare(u8, net_size), GRAPH_NMS_ROUNDS),
                batch)
            packed = packed.numpy().copy()        # pinned buffer is reused by the next call
            if not packed[:, 0, 2].any():          # NMS finished within the captured rounds
                return packed, sal
        with clock('upload+resize'):
            x = torch.cat([self._upload(arrays, idx, net_size) for idx in members.values()])
        packed, sal, _unfinished = self._pipeline(x, None, clock)
        with clock('device-to-host'):
            return packed.cpu().numpy(), sal

    def _pipeline(self, x: torch.Tensor, nms_rounds_max: int | None, clock: Clock = no_clock
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Network-size float images -> (packed results, saliency, NMS-unfinished flag).

        Packed row 0 of each image holds (count, threshold, unfinished); rows 1.. hold
        x, y (network pixels), score, angle, descriptor (oriented when an orientation is set),
        then the upright descriptor when an orientation is set. No host sync unless
        ``nms_rounds_max`` is None.
        """
        c = self.config
        h, w = x.shape[-2:]
        gray = x.mean(dim=1) if c.orientation != 'upright' else None
        up = c.saliency_upsample
        # The front end computes what it was built for (saliency_upsample is a runtime field:
        # after a change, the torch network runs it with autograd until the next build).
        if up == self._front_upsample and not (self.runtime == 'autograd'
                                               and clock is not no_clock):
            with clock('front end'):
                sal, desc_map = self._front(x)
        elif up != 1.0:
            sal, desc_map = self._fine_saliency(self._network_input(x, clock), up, clock)
        else:
            # The same computation as the autograd front end, with its stages timed.
            sal, desc_map = elf_saliency(self.network, self._network_input(x, clock),
                                         self._offsets, clock=clock)
        # NMS radius and border are network pixels; the map may be finer (saliency_upsample).
        scale = (sal.shape[-1] / w, sal.shape[-2] / h)
        xy, score, count, thr, unfinished = keypoints_from_saliency(
            sal, self._k_thr, self._k_noise, threshold_scale=c.threshold_scale,
            nms_radius=round(c.nms_radius * max(scale)), border=round(c.border * max(scale)),
            max_keypoints=c.max_keypoints, subpixel=c.subpixel, nms_rounds_max=nms_rounds_max,
            nms_mode=c.nms_mode, cell=math.floor(min(scale) + 1e-6),
            subpixel_window=c.subpixel_window, clock=clock)
        if up != 1.0:
            with clock('sub-pixel'):      # fine pixel centres -> network pixels
                xy = (xy + 0.5) / torch.tensor(scale, device=xy.device) - 0.5
        with clock('descriptors'):
            centres = map_means(desc_map) if c.descriptor_centering else None
            desc = sample_descriptor_maps(desc_map, xy, w, h, centres)
        if gray is not None:          # a torch network only (DetectorConfig.validate)
            with clock('orientation'):
                angle, oriented = oriented_descriptors(
                    self._copy_describer(), self._network_input(x, clock), gray, desc_map, xy,
                    c.rotations, centre=c.descriptor_centering)
                rows = torch.cat((xy, score.unsqueeze(-1), angle.unsqueeze(-1), oriented, desc),
                                 dim=-1)
        else:
            angle = torch.full_like(score, NOT_ESTIMATED_ANGLE)
            rows = torch.cat((xy, score.unsqueeze(-1), angle.unsqueeze(-1), desc), dim=-1)
        with clock('pack'):
            head = torch.zeros(x.shape[0], 1, rows.shape[-1], device=self.device)
            head[:, 0, 0] = count.to(torch.float32)
            head[:, 0, 1] = thr
            head[:, 0, 2] = unfinished.to(torch.float32)
            packed = torch.cat((head, rows), dim=1)
        return packed, sal, unfinished

    def _copy_describer(self) -> Describer:
        """Return what describes rotated copies on this runtime (built on first use)."""
        if self._describer is None:
            self._describer = copy_describer(self.runtime, self.backbone, self.device)
        return self._describer

    def _network_input(self, x: torch.Tensor, clock: Clock) -> torch.Tensor:
        """Float 0..255 images -> normalised, channels_last, half when asked (autograd path)."""
        with clock('normalise'):
            x = self._normalise(x).contiguous(memory_format=torch.channels_last)
            return x.half() if self.half else x

    def _fine_saliency(self, x: torch.Tensor, up: float, clock: Clock
                       ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """
        Descriptors from the network-size pass, saliency of the detection tap on x upsampled.

        x: (B, 3, h, w) normalised -> saliency (B, floor(h*up), floor(w*up)) and the maps.
        """
        with clock('forward (descriptors)'), torch.no_grad():
            _f, desc_map = self.network(x)
        with clock('upsample'):
            fine = upsample_for_detection(x, up)
        sal, _none = elf_saliency(self.network, fine, self._offsets, describe=False, clock=clock,
                                  suffix=' (fine)')
        return sal, desc_map

    def _unpack(self, packed: np.ndarray, sal: torch.Tensor | None,
                src_sizes: list[tuple[int, int]], net_size: tuple[int, int]
                ) -> list[ElfResult]:
        """Split packed rows into results; map keypoints from network to source pixels."""
        maps = self._saliency_maps(sal, src_sizes) if sal is not None else [None] * len(packed)
        dim = self.descriptor_dim
        oriented = self.config.orientation != 'upright'
        estimated = oriented or self.config.scale_levels > 1
        out = []
        for p, smap, (sh, sw) in zip(packed, maps, src_sizes, strict=True):
            n = int(p[0, 0])
            body = p[1:n + 1]
            scale = np.array([sw / net_size[1], sh / net_size[0]], np.float32)
            xy = (body[:, :2] + 0.5) * scale - 0.5 if net_size != (sh, sw) else body[:, :2]
            # Mapping and sub-pixel offsets can leave the pixel grid by < 1 px: clip onto it.
            xy = np.clip(xy, 0, np.array([sw - 1, sh - 1], np.float32))
            size = (2 * CENTROID_RADIUS + 1) * float(scale.mean()) if estimated \
                else NOT_ESTIMATED_SIZE
            out.append(ElfResult(
                np.ascontiguousarray(xy, dtype=np.float32), np.ascontiguousarray(body[:, 2]),
                np.ascontiguousarray(body[:, 4:4 + dim]), smap, float(p[0, 1]),
                sizes=np.full(n, size, np.float32), angles=np.ascontiguousarray(body[:, 3]),
                upright_descriptors=np.ascontiguousarray(body[:, 4 + dim:]) if oriented
                else None))
        return out

    def _saliency_maps(self, sal: torch.Tensor, src_sizes: list[tuple[int, int]]
                       ) -> list[np.ndarray]:
        """Saliency at each source size (resized on the device), one transfer when sizes agree."""
        maps = []
        for i, size in enumerate(src_sizes):
            s = sal[i:i + 1]
            if tuple(s.shape[-2:]) != tuple(size):
                s = F.interpolate(s.unsqueeze(1), size=tuple(size), mode='bilinear',
                                  align_corners=False).squeeze(1).clamp_(0, 1)
            maps.append(s[0])
        if len({m.shape for m in maps}) == 1:
            return list(torch.stack(maps).cpu().numpy())
        return [m.cpu().numpy() for m in maps]


def detect_each(detector: ElfDetector, images: Sequence[np.ndarray],
                return_saliency: bool = False,
                refused: tuple[type[Exception], ...] = (ValueError,)
                ) -> list[ElfResult | Exception]:
    """
    Detect a batch; if the detector refuses it, retry image by image so one bad image costs one.

    Each slot holds the image's result, or the exception that refused that image (e.g. a frame
    too small for the network). Exceptions outside ``refused`` propagate.
    """
    try:
        return list(detector.detect(images, return_saliency=return_saliency))
    except refused as err:
        if len(images) == 1:
            return [err]
    return [detect_each(detector, [image], return_saliency, refused)[0] for image in images]
