"""Test-session settings shared by every test: DDS stays on loopback, seeds are fixed."""
import os
from pathlib import Path
import random

import pytest

# Before anything imports rclpy: never send discovery traffic off this machine, and use a domain
# of our own so parallel runs on one machine do not hear each other.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state, whatever ran before it."""
    random.seed(0)
    try:
        import numpy as np
        np.random.seed(0)
    except ImportError:
        pass
    try:
        import torch
        torch.manual_seed(0)
    except ImportError:
        pass


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    """Locate the real photographs in ../shared/data; CI has them, a user's clone may not."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real test images not present at {SHARED_DATA}')
    return SHARED_DATA
