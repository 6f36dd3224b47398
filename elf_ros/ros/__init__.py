"""The ROS 2 layer of elf_ros: node, image conversion, replay, recorder and benchmark."""
