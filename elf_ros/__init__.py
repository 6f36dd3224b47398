"""ELF keypoints and descriptors for ROS 2 (core, ROS node, evaluation)."""
import pkgutil

# In a source checkout the generated `elf_ros.msg` lives in the colcon install tree, not here:
# let every `elf_ros` folder on sys.path contribute sub-packages.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = '0.1.0'
