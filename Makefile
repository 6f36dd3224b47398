# Entry points; each one sets up what it needs first (scripts/setup_env.sh is idempotent).
.PHONY: setup test demo lint bench clean

setup:
	scripts/setup_env.sh

test:
	scripts/run_tests.sh

lint: setup
	bash -c 'source scripts/ros_env.sh && ruff check .'

clean:
	rm -rf build install log
