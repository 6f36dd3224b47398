"""
The node's detector slot: which detector runs, which one the parameters ask for, and the swap.

ROS-free (tested without a node): one lock guards the running detector, the config it runs,
the target config the parameters describe, and runtime changes waiting for the next frame.
A change is validated before it is accepted; a runtime-only change (same network) applies from
the next frame, a network change is built by a background `CoalescingBuilder` (one build per
burst of changes) while the old detector keeps serving, then swapped in, or, when the build
fails, reported through `on_failure` with the running config so the caller can revert.
"""
from __future__ import annotations

import gc
from pathlib import Path
import threading
import time
from typing import Any, Callable, Protocol

import torch

from elf_ros.core import (
    ConfigError,
    DetectorConfig,
    ElfDetector,
    FIELD_SPECS,
    PRESETS,
    resolve_device,
    RUNTIME_FIELDS,
)
from elf_ros.ros.rebuild import CoalescingBuilder

NETWORK_FIELDS = tuple(name for name in FIELD_SPECS if name not in RUNTIME_FIELDS)


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the text says why."""


class Log(Protocol):
    """What the slot logs through: an rclpy logger or a `logging.Logger`."""

    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...
    def error(self, message: str) -> Any: ...


def same_network(a: DetectorConfig, b: DetectorConfig) -> bool:
    """Tell whether two configs need the same network (only runtime fields differ)."""
    return all(getattr(a, n) == getattr(b, n) for n in NETWORK_FIELDS)


def needs_build(target: DetectorConfig, running: DetectorConfig,
                detector: ElfDetector | None) -> bool:
    """
    Tell whether serving ``target`` needs a new detector instead of ``update()``.

    A network field changed, or the running detector's front end (an engine's export, a
    compiled graph) was built for another ``saliency_upsample``: updating would run the fine
    pass on autograd, much slower than the preset promises (a runtime preset switch to
    efficientnet_lite1_fine, say).
    """
    return not same_network(target, running) or (
        detector is not None and not detector.serves_upsample(target.saliency_upsample))


def runtime_diff(old: DetectorConfig, new: DetectorConfig) -> dict[str, Any]:
    """Runtime fields whose value differs, with the new values (what `update()` takes)."""
    return {n: getattr(new, n) for n in RUNTIME_FIELDS if getattr(old, n) != getattr(new, n)}


def check_buildable(config: DetectorConfig) -> None:
    """
    Check the cheap part of a build before a change is accepted.

    The weights file must exist and the device be there; ConfigError with the reason otherwise.
    """
    if config.weights not in ('imagenet', 'random') and not Path(
            config.weights).expanduser().is_file():
        raise ConfigError(f'weights: file {config.weights!r} does not exist (use '
                          "'imagenet', 'random' or an existing state-dict file)")
    resolve_device(config.device)


def build_detector(config: DetectorConfig, log: Log) -> ElfDetector:
    """Build a detector, turning every failure into a StartupError with the reason."""
    try:
        detector = ElfDetector(config)
    except Exception as err:  # noqa: B902 - any build failure is reported, not raised raw
        raise StartupError(
            f'cannot build the detector ({config.backbone}, weights={config.weights}, '
            f'device={config.device}): {err}') from err
    if config.device == 'auto' and str(detector.device) == 'cpu':
        log.warning('device auto: no CUDA device available, running on CPU')
    return detector


class DetectorSlot:
    """
    The running detector and the one the parameters ask for.

    `load()` builds the target (start-up, lifecycle configure); `change()` validates and
    accepts a request; `take()` hands the worker the detector with pending runtime changes
    applied; `unload()` frees the model. `on_failure(running_config, running_preset)` is called
    on the builder thread when a rebuild fails and nothing newer was asked for meanwhile.
    """

    def __init__(self, target: DetectorConfig, preset: str, log: Log,
                 on_failure: Callable[[DetectorConfig, str], None],
                 build: Callable[[DetectorConfig, Log], ElfDetector] = build_detector) -> None:
        self._lock = threading.Lock()  # guards _detector, _config, _target and _pending
        self._detector: ElfDetector | None = None
        self._config: DetectorConfig | None = None  # what the running detector does
        self._target = target                        # what the parameters say
        self._pending: dict[str, Any] = {}          # runtime changes for the next frame
        self._builder: CoalescingBuilder | None = None
        self._log = log
        self._on_failure = on_failure
        self._build = build
        self.preset = preset            # the preset the parameters name
        self.running_preset = preset    # the preset of the running detector's parameters
        self.builds = 0  # detectors built (the first load included)

    # -- state -------------------------------------------------------------------------------
    @property
    def target(self) -> DetectorConfig:
        with self._lock:
            return self._target

    @property
    def detector(self) -> ElfDetector | None:
        with self._lock:
            return self._detector

    @property
    def config(self) -> DetectorConfig | None:
        """The running detector's config; None while unloaded."""
        with self._lock:
            return self._config

    def current(self) -> tuple[ElfDetector | None, DetectorConfig | None]:
        """Read the running detector and its config together."""
        with self._lock:
            return self._detector, self._config

    def take(self) -> tuple[ElfDetector, DetectorConfig]:
        """Hand the worker the detector (pending runtime changes applied) and its config."""
        with self._lock:
            detector, config = self._detector, self._config
            if self._pending:
                detector.update(**self._pending)
                self._pending = {}
        return detector, config

    def wait_idle(self, timeout: float) -> bool:
        """Block until every requested rebuild is done (tests, lifecycle); False on timeout."""
        return self._builder.wait_idle(timeout) if self._builder is not None else True

    # -- life cycle --------------------------------------------------------------------------
    def load(self) -> None:
        """Build the target (StartupError with the reason); start taking rebuild requests."""
        with self._lock:
            target = self._target
        detector = self._build(target, self._log)
        self.builds += 1
        with self._lock:  # runtime changes made meanwhile apply from the first frame
            self._detector, self._config = detector, self._target
            self._pending = runtime_diff(target, self._target)
        self.running_preset = self.preset
        self._builder = CoalescingBuilder(self._rebuild)

    def unload(self) -> bool:
        """Free the detector; False when a rebuild is still running."""
        idle = self._builder.close(0.0) if self._builder is not None else True
        with self._lock:
            device = self._detector.device if self._detector is not None else None
            self._detector, self._config, self._pending = None, None, {}
        gc.collect()
        if device is not None and device.type == 'cuda':
            torch.cuda.empty_cache()
        return idle

    def close(self, timeout: float) -> bool:
        """Stop taking rebuild requests; False when a build still runs after `timeout` s."""
        return self._builder.close(timeout) if self._builder is not None else True

    # -- changes -----------------------------------------------------------------------------
    def change(self, changes: dict[str, Any], preset: str | None = None) -> None:
        """
        Validate and accept a request: detector fields and (optionally) the preset it names.

        ConfigError with the reason when refused (nothing changes then). Values equal to the
        target's are no change; a network change must be buildable (weights file, device).
        """
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f'preset: unknown {preset!r}; allowed: ' + ', '.join(PRESETS))
        target = self.target
        changes = {k: v for k, v in changes.items() if getattr(target, k) != v}
        candidate = None
        if changes:
            candidate = target.replace(**changes).validate()
            if not same_network(candidate, target):
                check_buildable(candidate)
        if preset is not None:
            self.preset = preset
        if candidate is not None:
            with self._lock:
                self._target = candidate
                self._follow_target()

    def _follow_target(self) -> None:
        """Apply runtime changes now, ask the builder for network changes (lock held)."""
        if self._detector is None:
            return  # not loaded yet (lifecycle): the next load builds the target
        if not needs_build(self._target, self._config, self._detector):
            self._pending.update(runtime_diff(self._config, self._target))
            self._config = self._target
        else:
            self._builder.request()

    def _rebuild(self) -> None:
        """Builder thread: build the target's network; swap it in, or log and revert."""
        with self._lock:
            target, running, serving = self._target, self._config, self._detector
            if running is None or not needs_build(target, running, serving):
                return
        changed = ([n for n in NETWORK_FIELDS if getattr(target, n) != getattr(running, n)]
                   or ['saliency_upsample (the front end is built for one factor)'])
        self._log.info(f'rebuilding the detector for {changed}; the current one keeps serving')
        start = time.monotonic()
        self.builds += 1
        try:
            detector = self._build(target, self._log)
        except StartupError as err:
            self._log.error(f'{err}; keeping the running {running.backbone} detector and '
                            'reverting the parameters to its values')
            with self._lock:
                stale = not same_network(self._target, target)
            if not stale:
                self._on_failure(running, self.running_preset)
            return
        with self._lock:
            if self._config is None:
                return  # unloaded (lifecycle cleanup) while building: the model stays freed
            if needs_build(self._target, target, detector):
                return  # changed again meanwhile: the builder runs once more
            self._detector = detector
            self._pending = runtime_diff(target, self._target)
            self._config = self._target
        self.running_preset = self.preset
        if detector.runtime_note:
            self._log.warning(detector.runtime_note)
        self._log.info(f'detector rebuilt in {time.monotonic() - start:.1f} s: {target.backbone} '
                       f'({target.detection_layer or "default"} / '
                       f'{target.description_layer or "default"}) on {detector.device} via '
                       f'{detector.runtime}')
