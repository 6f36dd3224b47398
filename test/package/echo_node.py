"""A separate process that echoes elf_ros messages back, so a round trip crosses Fast DDS twice."""
import sys

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from elf_ros.msg import DescriptorArray, Keypoint, KeypointArray

MESSAGE_TYPES = {'Keypoint': Keypoint, 'KeypointArray': KeypointArray,
                 'DescriptorArray': DescriptorArray}


def main() -> None:
    rclpy.init(args=sys.argv)
    node = Node('elf_ros_echo')
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    keep = []
    for name, msg_type in MESSAGE_TYPES.items():
        publisher = node.create_publisher(msg_type, f'echo_out/{name}', qos)
        keep.append(node.create_subscription(
            msg_type, f'echo_in/{name}', publisher.publish, qos))
    print('echo ready', flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
