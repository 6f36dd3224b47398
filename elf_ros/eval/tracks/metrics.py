"""
Track statistics and their geometric quality under ground-truth poses (plain numpy).

Input: per frame the living tracks (ids (M,), pixels (M, 2)). Lengths count the frames a track
was seen in (a track alive at the sequence end is counted as it stands). Sampson distance: every
pair of consecutive observations of a track, under the true relative pose between the two
frames, in undistorted pixels. Reprojection: every track seen in at least 3 frames is
triangulated (linear DLT over all its observations, true camera poses) and each observation's
reprojection error is measured in undistorted pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elf_ros.core import CameraModel


@dataclass
class Observations:
    """All observations of a run as flat arrays, sorted by (track id, frame)."""

    track: np.ndarray    # (O,) int64
    frame: np.ndarray    # (O,) int64
    pixels: np.ndarray   # (O, 2) float64, undistorted pixels


def collect(frames: list[tuple[np.ndarray, np.ndarray]], camera: CameraModel) -> Observations:
    """Flatten per-frame (ids, pixels) into observations with undistorted pixels."""
    ids = [np.asarray(i, np.int64) for i, _ in frames]
    index = np.concatenate([np.full(len(i), k, np.int64) for k, i in enumerate(ids)] or
                           [np.zeros(0, np.int64)])
    track = np.concatenate(ids or [np.zeros(0, np.int64)])
    pixels = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for _, p in frames] or
                            [np.zeros((0, 2))])
    order = np.lexsort((index, track))
    return Observations(track[order], index[order], camera.undistorted_pixels(pixels[order]))


def track_lengths(obs: Observations) -> np.ndarray:
    """(T,) frames per track."""
    _, counts = np.unique(obs.track, return_counts=True)
    return counts


def skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])


def sampson_distances(obs: Observations, poses: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """
    (P,) Sampson distance in pixels of each consecutive observation pair of a track.

    poses: (F, 4, 4) T_world<-camera. F_ij = K^-T [t]x R K^-1 with x_j = R x_i + t.
    """
    same = (obs.track[1:] == obs.track[:-1]) & (obs.frame[1:] == obs.frame[:-1] + 1)
    a, b = np.nonzero(same)[0], np.nonzero(same)[0] + 1
    if len(a) == 0:
        return np.zeros(0)
    k_inv = np.linalg.inv(matrix)
    rel = np.linalg.inv(poses[obs.frame[b]]) @ poses[obs.frame[a]]      # (P, 4, 4) i -> j
    tx = np.stack([skew(t) for t in rel[:, :3, 3]])
    fmat = k_inv.T[None] @ tx @ rel[:, :3, :3] @ k_inv[None]
    x1 = np.column_stack((obs.pixels[a], np.ones(len(a))))
    x2 = np.column_stack((obs.pixels[b], np.ones(len(b))))
    fx1 = np.einsum('pij,pj->pi', fmat, x1)
    ftx2 = np.einsum('pji,pj->pi', fmat, x2)
    num = np.einsum('pi,pi->p', x2, fx1) ** 2
    den = fx1[:, 0] ** 2 + fx1[:, 1] ** 2 + ftx2[:, 0] ** 2 + ftx2[:, 1] ** 2
    return np.sqrt(num / np.maximum(den, 1e-300))


def reprojection_errors(obs: Observations, poses: np.ndarray, matrix: np.ndarray,
                        min_length: int = 3) -> np.ndarray:
    """(O',) reprojection error in pixels of every observation of tracks >= min_length long."""
    world_to_cam = np.linalg.inv(poses)                                  # (F, 4, 4)
    proj = matrix[None] @ world_to_cam[:, :3, :]                         # (F, 3, 4)
    starts = np.r_[0, np.nonzero(np.diff(obs.track))[0] + 1]
    lengths = np.diff(np.r_[starts, len(obs.track)])
    errors = []
    for length in np.unique(lengths[lengths >= min_length]):
        first = starts[lengths == length]                               # (T,)
        rows = first[:, None] + np.arange(length)[None]                 # (T, L)
        p = proj[obs.frame[rows]]                                       # (T, L, 3, 4)
        uv = obs.pixels[rows]                                           # (T, L, 2)
        a = np.concatenate([uv[..., 0:1] * p[:, :, 2] - p[:, :, 0],
                            uv[..., 1:2] * p[:, :, 2] - p[:, :, 1]], axis=1)   # (T, 2L, 4)
        x = np.linalg.svd(a)[2][:, -1]                                  # (T, 4)
        hom = np.einsum('tlij,tj->tli', p, x)                           # (T, L, 3)
        with np.errstate(divide='ignore', invalid='ignore'):
            err = np.linalg.norm(hom[..., :2] / hom[..., 2:] - uv, axis=2)
        errors.append(np.where(np.isfinite(err), err, np.inf).reshape(-1))
    return np.concatenate(errors) if errors else np.zeros(0)


def summary(frames: list[tuple[np.ndarray, np.ndarray]], camera: CameraModel,
            poses: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Return the benchmark's numbers for one run, and the raw distributions for the plots."""
    obs = collect(frames, camera)
    lengths = track_lengths(obs)
    sampson = sampson_distances(obs, poses, camera.matrix)
    reproj = reprojection_errors(obs, poses, camera.matrix)

    def pct(values: np.ndarray, q: float) -> float:
        return float(np.percentile(values, q)) if len(values) else float('nan')

    numbers = {
        'frames': len(frames),
        'tracks_per_frame': float(np.mean([len(i) for i, _ in frames])) if frames else 0.0,
        'tracks': int(len(lengths)),
        'median_length': pct(lengths, 50), 'p90_length': pct(lengths, 90),
        'share_ge5': float(np.mean(lengths >= 5)) if len(lengths) else float('nan'),
        # What a back end sees: the final length of the track behind each published point.
        'median_length_per_obs': pct(np.repeat(lengths, lengths), 50),
        'pairs': int(len(sampson)),
        'sampson_median_px': pct(sampson, 50),
        'sampson_share_gt1': float(np.mean(sampson > 1.0)) if len(sampson) else float('nan'),
        'reprojected': int(len(reproj)),
        'reproj_median_px': pct(reproj, 50), 'reproj_p90_px': pct(reproj, 90),
    }
    return numbers, {'lengths': lengths, 'sampson': sampson, 'reprojection': reproj}
