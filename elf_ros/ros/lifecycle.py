"""
elf_lifecycle_node: elf_node as a managed (lifecycle) node.

Same parameters, topics and behaviour as elf_node, driven by lifecycle transitions:
configure loads the model and creates the publishers, activate subscribes and starts the
worker, deactivate stops taking frames (the model stays loaded), cleanup frees the model,
shutdown does what is needed of both. Parameters can be set in every state; a change made
before configure is simply used by the next configure.
"""
from __future__ import annotations

import sys
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from elf_ros.ros.node import ElfPipeline
from elf_ros.ros.shutdown import make_executor, run_node
from elf_ros.ros.slot import StartupError

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class ElfLifecycleNode(ElfPipeline, LifecycleNode):
    """elf_node under lifecycle management (named elf_node, like the plain one)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('elf_node', start_parameter_services=False, **kwargs)
        self._init_elf()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._load()
        except StartupError as err:
            self.get_logger().error(f'configure failed: {err}')
            return FAILURE
        self.get_logger().info('configured: model loaded')
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        self.get_logger().info('deactivated: not taking frames, model kept')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        self.get_logger().info('cleaned up: model freed')
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        self._unload()
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        self._unload()
        return SUCCESS


def main(argv: list[str] | None = None) -> int:
    """Run the managed node until Ctrl-C/SIGTERM (exit 0); 1 when its parameters are invalid."""
    return run_node(ElfLifecycleNode, make_executor, (StartupError,), 'elf_node',
                    sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
