"""
rosbag2 in, ELF features out, without a ROS install (`python -m elf_ros.bag`, docs/bag.md).

Reading and writing go through the pure-Python library `rosbags` (sqlite3 and mcap storage);
elf_ros's own message types are registered from the package's .msg files, so output bags embed
their definitions and hashes as `ros2 bag record` would.
"""
