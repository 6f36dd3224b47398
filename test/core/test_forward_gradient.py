"""The input gradient as forward operations equals torch.autograd.grad, on every built-in tap."""
import pytest
import torch
from torch import nn

from elf_ros.core import DetectorConfig
from elf_ros.core.backbones import _init_random, build_backbone, SequentialTaps, vgg_layers
from elf_ros.core.forward_gradient import (
    ForwardGradientTaps,
    layer_step,
    maxpool_step,
    UnsupportedLayerError,
)
from elf_ros.core.registry import BACKBONES
from elf_ros.core.saliency import seed_of
from elf_ros.core.weights import seeded


def autograd_reference(net: SequentialTaps, x: torch.Tensor) -> torch.Tensor:
    """d(1/2 ||F||^2)/dx via autograd (float32: seeded by F itself)."""
    xi = x.clone().requires_grad_(True)
    with torch.enable_grad():
        f, _d = net(xi)
        (grad,) = torch.autograd.grad(0.5 * f.pow(2).sum(), xi)
    return grad


def assert_same_gradient(net: SequentialTaps, x: torch.Tensor, tap: str) -> None:
    ref = autograd_reference(net, x)
    with torch.no_grad():
        got, descs = ForwardGradientTaps(net.layers, net.det, net.desc)(x, 1)
        _f, ref_descs = net(x, 1)
    scale = ref.abs().max().item()
    assert scale > 0, f'{tap}: the reference gradient is zero; the check would be empty'
    torch.testing.assert_close(got, ref, atol=1e-5 * scale, rtol=1e-4, msg=tap)
    for d, r in zip(descs, ref_descs, strict=True):
        torch.testing.assert_close(d, r, msg=tap)


def full_layers(name: str, relu6_pass: bool = False) -> tuple[nn.ModuleList, list[str]]:
    """Every layer of a built-in backbone (seeded random weights, BN folded) and its names."""
    spec = BACKBONES[name]
    names = [n for n, _s in spec.table()]
    cfg = DetectorConfig(backbone=name, weights='random', detection_layer=names[-1],
                         description_layer=names[0], relu6_pass_gradient=relu6_pass,
                         device='cpu')
    return build_backbone(cfg).network.layers, names


@pytest.mark.slow
@pytest.mark.parametrize('name', list(BACKBONES))
def test_every_tap_of_every_builtin_backbone_matches_autograd(name):
    layers, names = full_layers(name)
    # odd sizes (cropping after strided layers), just big enough for the deepest tap: fast
    h, w = (67, 69) if name == 'alexnet' else (35, 37)    # AlexNet's 11/4 conv + 3 pools
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    for i, tap in enumerate(names):
        # description taps on both sides of the detection tap: shallower, same, deeper
        desc = sorted({0, i, min(i + 1, len(names) - 1)})
        assert_same_gradient(SequentialTaps(list(layers), i, desc), x, f'{name} {tap}')


def test_each_image_of_a_batch_gets_its_own_gradient():
    layers, names = full_layers('vgg16')
    x = torch.randn(2, 3, 36, 40, generator=torch.Generator().manual_seed(7))
    x[1] *= 5                                   # a much larger F than its neighbour's
    det = names.index('pool2')
    net = SequentialTaps(list(layers), det, [det])
    assert_same_gradient(net, x, 'vgg16 pool2 batch')
    with torch.no_grad():
        alone, _d = ForwardGradientTaps(net.layers, net.det, net.desc)(x[:1], 1)
        both, _d = ForwardGradientTaps(net.layers, net.det, net.desc)(x, 1)
    torch.testing.assert_close(both[:1], alone, atol=1e-5 * alone.abs().max().item(), rtol=1e-4)


def test_below_float32_the_seed_is_scaled_by_one_factor_for_the_whole_batch():
    f = torch.tensor([[[[1.0, -4.0]]], [[[2.0, 0.5]]]])
    assert seed_of(f) is f                      # float32: F itself
    half = seed_of(f.to(torch.bfloat16)).float()
    torch.testing.assert_close(half, f / 4.0, atol=1e-2, rtol=1e-2)   # max |F| of the batch
    assert seed_of(torch.zeros(1, 1, 2, 2, dtype=torch.float16)).abs().max() == 0


def test_relu6_pass_gradient_is_respected():
    """With inputs large enough to saturate ReLU6, the two gradients differ and both match."""
    x = 20 * torch.randn(1, 3, 40, 44, generator=torch.Generator().manual_seed(2))
    grads = []
    for passing in (False, True):
        layers, names = full_layers('efficientnet_lite0', relu6_pass=passing)
        det = names.index('block2')
        net = SequentialTaps(list(layers), det, [det])
        assert_same_gradient(net, x, f'relu6_pass_gradient={passing}')
        with torch.no_grad():
            grads.append(ForwardGradientTaps(net.layers, det, [det])(x)[0])
    assert not torch.allclose(grads[0], grads[1])


def test_normalised_vgg_with_reflection_padding_matches_autograd():
    """The Gatys-normalised VGG-19 layout: a 1x1 input conv and reflection-padded 3x3 convs."""
    with seeded(3):
        table = vgg_layers('vgg19', normalised=True)
        layers = [m for _n, m, _s in table]
        _init_random(layers)
    names = [n for n, _m, _s in table]
    x = torch.randn(1, 3, 45, 51, generator=torch.Generator().manual_seed(3))
    for tap in ('bgr', 'conv1_1', 'pool1', 'conv3_1'):
        i = names.index(tap)
        net = SequentialTaps(layers, i, [i]).eval().requires_grad_(False)
        assert_same_gradient(net, x, f'normalised vgg19 {tap}')


@pytest.mark.parametrize('kernel,stride', [(2, 2), (3, 2)])
def test_maxpool_routes_ties_to_the_first_maximum_like_torch(kernel, stride):
    """Integer inputs tie often; overlapping windows (AlexNet's 3/2) add up at shared inputs."""
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 3, (2, 3, 11, 13), generator=g).float()
    pool = nn.MaxPool2d(kernel, stride)
    y, adjoint = maxpool_step(pool, x)
    seed = torch.randn(y.shape, generator=g)
    xi = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(pool(xi), xi, grad_outputs=seed)
    torch.testing.assert_close(adjoint(seed), ref)


def test_flat_image_regions_tie_in_vgg_pools_and_still_match():
    """A constant block gives equal positive activations inside the pooling windows."""
    layers, names = full_layers('vgg16')
    x = torch.randn(1, 3, 48, 56, generator=torch.Generator().manual_seed(5))
    x[..., 8:40, 8:40] = 1.0
    det = names.index('pool2')
    assert_same_gradient(SequentialTaps(list(layers), det, [det]), x, 'vgg16 pool2 flat')


def test_unfolded_batchnorm_is_a_per_channel_scale():
    with seeded(6):
        block = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU6())
        bn = block[1]
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.normal_()
    block.eval()
    x = torch.randn(1, 3, 17, 19)
    out, adjoint = layer_step(block[0], x)
    out2, adjoint2 = layer_step(bn, out)
    y, adjoint3 = layer_step(block[2], out2)
    seed = torch.randn(y.shape)
    xi = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(block(xi), xi, grad_outputs=seed)
    torch.testing.assert_close(adjoint(adjoint2(adjoint3(seed))), ref)


def test_an_unknown_module_is_refused_by_name():
    net = SequentialTaps([nn.Conv2d(3, 4, 3), nn.GELU()], 1, [1])
    with pytest.raises(UnsupportedLayerError, match='GELU.*autograd'):
        ForwardGradientTaps(net.layers, 1, [1])
