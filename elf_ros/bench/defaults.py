"""Benchmark inputs that live in the checkout's sibling `shared/` folder (absent on a user's)."""
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / 'shared'
DEFAULT_PHOTO = SHARED / 'data/oxford_graf/img1.png'
# Offline stand-in for torchvision's VGG-19 (same cost up to conv3_1): the normalised file.
DEFAULT_WEIGHTS = {'vgg19': SHARED / 'weights/vgg19_normalised_conv3_1/vgg_normalised_conv3_1.pth'}
