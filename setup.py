"""Setuptools entry for `pip install .` (the ROS-free parts); metadata lives in setup.cfg."""
from setuptools import setup

setup()
