"""elf_lifecycle_node driven through its lifecycle services (what `ros2 lifecycle set` calls)."""
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from ros_harness import frame, InProcessNode  # noqa: E402

from elf_ros.ros.lifecycle import ElfLifecycleNode  # noqa: E402

pytestmark = pytest.mark.ros


def change(probe, transition: int) -> bool:
    client = probe.node.create_client(ChangeState, 'elf_node/change_state')
    try:
        request = ChangeState.Request(transition=Transition(id=transition))
        return probe.call(client, request, timeout=60).success
    finally:
        probe.node.destroy_client(client)


def state(probe) -> int:
    client = probe.node.create_client(GetState, 'elf_node/get_state')
    try:
        return probe.call(client, GetState.Request()).current_state.id
    finally:
        probe.node.destroy_client(client)


def test_configure_loads_activate_serves_cleanup_frees():
    harness = InProcessNode(node_class=ElfLifecycleNode)
    try:
        probe, node = harness.probe, harness.node
        probe.listen('keypoints')
        image_pub = probe.publisher('image')
        assert state(probe) == State.PRIMARY_STATE_UNCONFIGURED
        assert node.slot.detector is None and image_pub.get_subscription_count() == 0

        # Parameters can change before configure; configure then uses them.
        assert probe.set_parameters({'max_keypoints': 4})[0].successful
        assert change(probe, Transition.TRANSITION_CONFIGURE)
        assert state(probe) == State.PRIMARY_STATE_INACTIVE
        assert node.slot.detector is not None and node.slot.config.max_keypoints == 4
        assert image_pub.get_subscription_count() == 0  # inactive: takes no frames

        assert change(probe, Transition.TRANSITION_ACTIVATE)
        probe.handshake('image', 'keypoints')
        kps = probe.wait_for('keypoints', probe.send('image', frame(0)))
        assert len(kps.keypoints) == 4

        assert change(probe, Transition.TRANSITION_DEACTIVATE)
        probe.wait(lambda: image_pub.get_subscription_count() == 0, 10, 'unsubscribed')
        assert node.slot.detector is not None  # the model stays loaded while inactive

        assert change(probe, Transition.TRANSITION_CLEANUP)
        assert state(probe) == State.PRIMARY_STATE_UNCONFIGURED
        assert node.slot.detector is None and not node._cameras

        # And round again (each output has exactly one publisher: cleanup freed them all),
        # then shut down from unconfigured.
        assert change(probe, Transition.TRANSITION_CONFIGURE)
        for output in ('keypoints', 'descriptors', 'features', 'saliency', 'debug_image'):
            assert node.count_publishers(output) == 1, output
        assert change(probe, Transition.TRANSITION_ACTIVATE)
        probe.handshake('image', 'keypoints')
        assert change(probe, Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert state(probe) == State.PRIMARY_STATE_FINALIZED
        assert node.slot.detector is None
    finally:
        harness.close()


def test_configure_fails_cleanly_when_the_model_cannot_be_built(tmp_path):
    bad = tmp_path / 'not_weights.pth'
    bad.write_bytes(b'not a torch file')
    harness = InProcessNode(node_class=ElfLifecycleNode, weights=str(bad))
    try:
        assert not change(harness.probe, Transition.TRANSITION_CONFIGURE)
        assert state(harness.probe) == State.PRIMARY_STATE_UNCONFIGURED
        assert harness.node.slot.detector is None
    finally:
        harness.close()
