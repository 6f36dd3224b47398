"""A second run of the set-up with nothing changed does no work."""
import subprocess


def test_second_setup_run_skips_install_and_build(repo_root):
    first = subprocess.run([str(repo_root / 'scripts' / 'setup_env.sh')], capture_output=True,
                           text=True, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    second = subprocess.run([str(repo_root / 'scripts' / 'setup_env.sh')], capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert '[setup] dependencies up to date' in second.stdout
    assert '[setup] colcon build up to date' in second.stdout
