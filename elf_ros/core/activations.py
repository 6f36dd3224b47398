"""ReLU6 whose gradient passes the upper clip: same forward, only the saliency changes."""
from __future__ import annotations

import torch
from torch import nn


class _PassUpperReLU6(torch.autograd.Function):
    """clamp(x, 0, 6) forward; backward lets the gradient through wherever x > 0."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0.0, 6.0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x > 0).to(grad.dtype)


class PassUpperReLU6(nn.Module):
    """Drop-in for nn.ReLU6: same output; edges that saturate it keep their gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _PassUpperReLU6.apply(x)


def pass_relu6_gradient(net: nn.Module) -> int:
    """Replace every nn.ReLU6 submodule of ``net`` in place; return how many were replaced."""
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, PassUpperReLU6())
                count += 1
    return count
