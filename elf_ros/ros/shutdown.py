"""
Running a node until SIGINT/SIGTERM, and leaving cleanly however many signals arrive.

rclpy's own handler turns a second Ctrl-C (a terminal's, then `ros2 launch` forwarding another)
into a KeyboardInterrupt wherever the main thread happens to be, e.g. inside a thread join;
the interpreter then tears down under a busy torch thread and aborts ("terminate called
without an active exception"). Here signals only set an event: the main thread waits on it,
stops the node, and a watchdog guarantees the process is gone within `deadline` seconds.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable, Protocol

import rclpy
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.signals import SignalHandlerOptions

from elf_ros.ros.parent_watch import follow_parent

EXIT_DEADLINE_S = 1.5  # the docs promise < 2 s from the first signal to the exit
DEFAULT_EXECUTOR = 'single'


def make_executor() -> Executor:
    """
    Create the executor spinning elf_node (ELF_NODE_EXECUTOR: single or multi).

    Every callback is short (parameters are built in the background), so one thread suffices
    and costs less per message than the thread pool (docs/node.md has the measurements).
    rclpy's experimental EventsExecutor is not offered: with these wheels it busy-spun at 100 %
    CPU and never delivered a message.
    """
    kind = os.environ.get('ELF_NODE_EXECUTOR', DEFAULT_EXECUTOR)
    if kind == 'multi':
        return MultiThreadedExecutor(num_threads=3)
    return SingleThreadedExecutor()


class Stoppable(Protocol):
    """What run_node needs of a node beyond rclpy's Node."""

    def close(self, timeout: float = 1.0) -> bool: ...
    def destroy_node(self) -> None: ...


class StopSignal:
    """SIGINT/SIGTERM set an event (never raise); the first one also arms the exit watchdog."""

    def __init__(self, deadline: float = EXIT_DEADLINE_S) -> None:
        self.event = threading.Event()
        self.received: float | None = None
        self._deadline = deadline
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:  # noqa: ARG002 - signal API
        if self.received is not None:
            return  # already stopping: further signals change nothing
        self.received = time.monotonic()
        self.event.set()
        threading.Thread(target=self._watchdog, name='exit_watchdog', daemon=True).start()

    def _watchdog(self) -> None:
        time.sleep(self._deadline)
        hard_exit(0)


def hard_exit(code: int) -> None:
    """
    Leave at once, flushing the logs first.

    A detection cannot be interrupted, and normal interpreter teardown under a busy torch
    thread aborts the process.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_node(make_node: Callable[[], Stoppable], make_executor: Callable[[], Executor],
             startup_errors: tuple[type[BaseException], ...], logger_name: str,
             argv: list[str]) -> int:
    """
    Init rclpy without its signal handlers, build the node, spin it in a thread until a signal.

    Returns 1 with one `cannot start: <reason>` line when the node raises one of
    `startup_errors`. After a signal, the node and rclpy are shut down and the process leaves
    through os._exit(0): a detection in progress is not waited for.
    """
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopSignal()
    follow_parent()  # started by elf.launch.py: leave with it, even when it is SIGTERMed
    try:
        node = make_node()
    except startup_errors as err:
        rclpy.logging.get_logger(logger_name).fatal(f'cannot start: {err}')
        rclpy.try_shutdown()
        return 1
    if stop.event.is_set():  # signalled while loading the model
        node.close(timeout=0.3)
        node.destroy_node()
        rclpy.try_shutdown()
        return hard_exit(0)
    executor = make_executor()
    executor.add_node(node)
    spinner = threading.Thread(target=_spin, args=(executor, stop.event), name='executor',
                               daemon=True)
    spinner.start()
    stop.event.wait()
    # A detection is not waited for (it can take seconds): a busy worker means os._exit below.
    node.close(timeout=0.3)
    executor.shutdown(timeout_sec=0.3)
    node.destroy_node()
    rclpy.try_shutdown()
    spinner.join(0.2)
    # Everything ROS is shut down. Interpreter teardown (torch and DDS thread pools, a busy
    # worker) took seconds here and can abort; nothing is left to save.
    return hard_exit(0)


def _spin(executor: Executor, stop: threading.Event) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass
    finally:
        stop.set()  # the context was shut down from elsewhere: stop the process too
