"""
Message formats shared by the node (elf_ros.ros) and the ROS-free bag tool (elf_ros.bag).

Nothing here imports ROS: messages are read by field name, so rclpy's and rosbags' message
classes both work. `images`: sensor_msgs/Image <-> numpy; `compressed`: CompressedImage
decoding; `topics`: the output topic naming rule.
"""
