"""
Descriptor matching on the detector's device, batched (mutual NN, ratio, distance).

Nearest neighbours with an optional mutual check, Lowe's ratio test and a distance threshold.
Why in the core: the evaluation, the motion benchmark and the ROS matcher all match the same
way, and on a GPU a batch of pairs is one distance matrix product instead of a Python loop.
Float descriptors are compared with the L2 distance; uint8 descriptors are packed bits (ORB,
BRISK, AKAZE) compared with the Hamming distance.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


@dataclass
class Matches:
    """Matches of one pair: ``pairs[k] = (i, j)`` joins row i of set 1 to row j of set 2."""

    pairs: np.ndarray       # (K, 2) int64, ascending in i
    distances: np.ndarray   # (K,) float32, the descriptor distance of each pair

    def __len__(self) -> int:
        return len(self.pairs)

    @classmethod
    def empty(cls) -> 'Matches':
        return cls(np.zeros((0, 2), np.int64), np.zeros(0, np.float32))


def _as_tensor(d: ArrayLike, device: torch.device) -> torch.Tensor:
    t = d if isinstance(d, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(d))
    if t.dim() != 2:
        raise ValueError(f'descriptors must be (N, D), got shape {tuple(t.shape)}')
    return t.to(device)


def _bits(t: torch.Tensor) -> torch.Tensor:
    """(N, B) uint8 packed bits -> (N, 8B) float32 of 0/1 (numpy's unpackbits order)."""
    shifts = torch.arange(7, -1, -1, device=t.device, dtype=torch.uint8)
    return ((t.unsqueeze(-1) >> shifts) & 1).reshape(t.shape[0], -1).to(torch.float32)


def pairwise_distances(d1: torch.Tensor, d2: torch.Tensor) -> torch.Tensor:
    """
    (B, N, D) x (B, M, D) -> (B, N, M) distances: Hamming for uint8 (packed bits), else L2.

    L2 through the dot product (one batched matrix product), clamped at 0 against rounding.
    """
    if d1.dtype == torch.uint8 and d2.dtype == torch.uint8:
        b, n, m = d1.shape[0], d1.shape[1], d2.shape[1]
        b1 = _bits(d1.reshape(b * n, -1)).reshape(b, n, -1)
        b2 = _bits(d2.reshape(b * m, -1)).reshape(b, m, -1)
        return b1 @ (1 - b2).transpose(1, 2) + (1 - b1) @ b2.transpose(1, 2)
    a, c = d1.float(), d2.float()
    sq = (a * a).sum(-1, keepdim=True) + (c * c).sum(-1).unsqueeze(1) - 2 * a @ c.transpose(1, 2)
    return sq.clamp_min_(0).sqrt_()


def _padded(descs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (N_b, D) sets into (B, N_max, D) with a validity mask (B, N_max)."""
    n = max(1, max(d.shape[0] for d in descs))
    dim = descs[0].shape[1]
    out = torch.zeros(len(descs), n, dim, dtype=descs[0].dtype, device=descs[0].device)
    mask = torch.zeros(len(descs), n, dtype=torch.bool, device=descs[0].device)
    for b, d in enumerate(descs):
        out[b, :d.shape[0]] = d
        mask[b, :d.shape[0]] = True
    return out, mask


def match_batch(pairs: Sequence[tuple[ArrayLike, ArrayLike]], mutual: bool = True,
                ratio: float = 1.0, max_distance: float = math.inf,
                device: str | torch.device = 'cpu') -> list[Matches]:
    """
    Match each (desc1, desc2) pair of a batch; one distance computation for the whole batch.

    Row i of set 1 is matched to its nearest neighbour j in set 2 (ties: the lowest j) and kept
    when: ``mutual`` - i is also j's nearest neighbour in set 1; ``ratio`` < 1 - its distance is
    below ``ratio`` times the second-nearest distance (Lowe); its distance is at most
    ``max_distance``. Sets may differ in size; an empty set gives no matches.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f'ratio must be in (0, 1], got {ratio}')
    dev = torch.device(device)
    results: list[Matches | None] = [None] * len(pairs)
    todo = []
    for k, (a, b) in enumerate(pairs):
        ta, tb = _as_tensor(a, dev), _as_tensor(b, dev)
        if ta.shape[0] == 0 or tb.shape[0] == 0 or ta.shape[1] == 0:
            results[k] = Matches.empty()
            continue
        if ta.shape[1] != tb.shape[1] or ta.dtype != tb.dtype:
            raise ValueError(f'pair {k}: descriptors differ: {tuple(ta.shape)} {ta.dtype} vs '
                             f'{tuple(tb.shape)} {tb.dtype}')
        todo.append((k, ta, tb))
    # One batched computation per descriptor kind (length and dtype).
    kinds: dict[tuple[int, torch.dtype], list[tuple[int, torch.Tensor, torch.Tensor]]] = {}
    for item in todo:
        kinds.setdefault((item[1].shape[1], item[1].dtype), []).append(item)
    for items in kinds.values():
        for k, m in zip([i[0] for i in items],
                        _match_padded(items, mutual, ratio, max_distance), strict=True):
            results[k] = m
    return results  # type: ignore[return-value]


def _match_padded(items: list[tuple[int, torch.Tensor, torch.Tensor]], mutual: bool,
                  ratio: float, max_distance: float) -> list[Matches]:
    d1, m1 = _padded([i[1] for i in items])
    d2, m2 = _padded([i[2] for i in items])
    dist = pairwise_distances(d1, d2)
    dist = dist.masked_fill(~m2.unsqueeze(1), math.inf)
    best, nn12 = dist.min(dim=2)             # first occurrence on ties: the lowest j
    keep = m1 & torch.isfinite(best)
    if mutual:
        nn21 = dist.masked_fill(~m1.unsqueeze(2), math.inf).argmin(dim=1)      # (B, M)
        rows = torch.arange(dist.shape[1], device=dist.device).expand_as(nn12)
        keep &= torch.gather(nn21, 1, nn12) == rows
    if ratio < 1 and dist.shape[2] > 1:
        second = torch.topk(dist, 2, dim=2, largest=False, sorted=True).values[..., 1]
        keep &= best < ratio * second
    if math.isfinite(max_distance):
        keep &= best <= max_distance
    # One transfer for the three results (one sync on a GPU).
    host = torch.stack((keep.to(best.dtype), nn12.to(best.dtype), best)).cpu().numpy()
    out = []
    for b in range(len(items)):
        i = np.nonzero(host[0, b])[0]
        out.append(Matches(np.stack([i, host[1, b, i].astype(np.int64)], axis=1),
                           host[2, b, i].astype(np.float32)))
    return out


def match_descriptors(desc1: ArrayLike, desc2: ArrayLike, mutual: bool = True,
                      ratio: float = 1.0, max_distance: float = math.inf,
                      device: str | torch.device = 'cpu') -> Matches:
    """Match one pair (see :func:`match_batch` for the rules)."""
    return match_batch([(desc1, desc2)], mutual, ratio, max_distance, device)[0]


def match_upright_or_oriented(upright: tuple[ArrayLike, ArrayLike],
                              oriented: tuple[ArrayLike, ArrayLike], mutual: bool = True,
                              ratio: float = 1.0, max_distance: float = math.inf,
                              device: str | torch.device = 'cpu') -> tuple[Matches, bool]:
    """
    Match a pair with upright and with orientation-normalised descriptors; keep the richer.

    Why: oriented descriptors survive rotation but lose some distinctiveness (and angles are
    noisy on blurred or low-texture keypoints), upright ones win when the camera did not turn.
    The pair decides: the descriptor kind that gives more matches under the same rules wins
    (ties: upright). Both are matched in one batch. Returns (matches, True when oriented won).
    """
    up, ori = match_batch([upright, oriented], mutual, ratio, max_distance, device)
    return (ori, True) if len(ori) > len(up) else (up, False)
