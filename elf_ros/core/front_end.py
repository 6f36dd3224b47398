"""
The ELF front end as one module: images -> saliency and description maps, no autograd.

This is the part of the pipeline that is a fixed graph (normalisation, shifted copies, network,
input gradient as forward operations, |.|, channel mean, unshift, / max), so it can be compiled,
autocast or exported to ONNX; keypoint selection and descriptor sampling stay in torch
(elf_ros.core.postprocess).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core.backbones import Backbone, SequentialTaps
from elf_ros.core.forward_gradient import ForwardGradientTaps, UnsupportedLayerError
from elf_ros.core.saliency import Offset, saliency_from_gradient, shifted_batch


def normalise_images(x: torch.Tensor, preprocessing: str, mean: torch.Tensor, std: torch.Tensor,
                     scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """
    (B, 3, H, W) float on the 0..255 scale -> the network's input.

    'standardize': per-image mean/std (then the weights' affine ``scale``/``shift``);
    otherwise the weights' fixed ``(x / 255 - mean) / std``. mean/std/scale/shift: (1, 3, 1, 1).
    """
    if preprocessing == 'standardize':
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        s = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - m) / s.clamp_min(1e-6) * scale + shift
    return (x / 255.0 - mean) / std


def upsample_for_detection(x: torch.Tensor, factor: float) -> torch.Tensor:
    """
    (B, C, H, W) -> (B, C, floor(factor H), floor(factor W)), bilinear: the fine pass's input.

    A scale factor, not a size, so the exported graph (ONNX Resize with scales) keeps dynamic
    sizes and equals the torch paths; plain NCHW (for the 3-channel detection tap alone it was
    faster than channels_last: forward, gradient and the gradient's channel mean).
    """
    return F.interpolate(x.contiguous(), scale_factor=factor, mode='bilinear',
                         align_corners=False)


class FrontEnd(nn.Module):
    """
    Images to saliency and description maps, autograd-free (compilable, exportable).

    forward(x) with x (B, 3, H, W) float32 on the 0..255 scale at the network size returns
    (saliency (B, H', W') float32 in [0, 1], D1, D2, ...): one description map per layer,
    (B, C_i, H / s_i, W / s_i) in the network's dtype. With ``saliency_upsample`` u != 1 (the
    fine detection pass, ``DetectorConfig.saliency_upsample``): the description maps of x, the
    saliency of the detection tap alone on x upsampled bilinearly by u, H' = floor(u H),
    W' = floor(u W); otherwise H' = H, W' = W.
    """

    def __init__(self, backbone: Backbone, preprocessing: str,
                 offsets: Sequence[Offset] = ((0, 0),), saliency_upsample: float = 1.0) -> None:
        super().__init__()
        self.saliency_upsample = float(saliency_upsample)
        net = backbone.network
        if not isinstance(net, SequentialTaps):
            raise UnsupportedLayerError(
                'torchvision: backbones have no forward-operation gradient; use the '
                "'autograd' runtime")
        self.taps = ForwardGradientTaps(net.layers, net.det, net.desc)
        self.preprocessing = preprocessing
        self.offsets = [tuple(d) for d in offsets]
        for name, value in (('mean', backbone.mean), ('std', backbone.std),
                            ('scale', backbone.standard_scale),
                            ('shift', backbone.standard_shift)):
            self.register_buffer(name, torch.tensor(value).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = next(self.taps.parameters()).dtype
        x = normalise_images(x.float(), self.preprocessing, self.mean, self.std, self.scale,
                             self.shift).to(dtype)
        if self.saliency_upsample == 1.0:
            xs = shifted_batch(x, self.offsets).contiguous(memory_format=torch.channels_last)
            grad, descs = self.taps(xs, x.shape[0])
            return (saliency_from_gradient(grad, self.offsets), *descs)
        descs = self.taps.describe(x.contiguous(memory_format=torch.channels_last))
        fine = upsample_for_detection(x, self.saliency_upsample)
        grad, _none = self.taps(shifted_batch(fine, self.offsets), 0)
        return (saliency_from_gradient(grad, self.offsets), *descs)
