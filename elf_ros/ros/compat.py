"""What differs between the ROS 2 distributions the package supports (Humble .. Kilted)."""
import rclpy.subscription

# rclpy >= Iron passes MessageInfo (sequence numbers) to two-argument callbacks; Humble does not.
WITH_MESSAGE_INFO = hasattr(rclpy.subscription, 'MessageInfo')
