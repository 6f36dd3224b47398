# Entry points; each one sets up what it needs first (scripts/setup_env.sh is idempotent).
.PHONY: setup test demo lint bench eval bag bag-bench clean
RUN = bash -c 'source scripts/ros_env.sh && "$$@"' _

setup:
	scripts/setup_env.sh

test:
	scripts/run_tests.sh

demo: setup
	$(RUN) scripts/demo.sh $(ARGS)

bench: setup
	$(RUN) python -m elf_ros.core.benchmark $(ARGS)

eval: setup
	$(RUN) python -m elf_ros.eval $(ARGS)

# elf-bag: `make bag ARGS="process in_bag out_bag --preset efficientnet_lite0"` (or `info in_bag`)
bag: setup
	$(RUN) python -m elf_ros.bag $(ARGS)

bag-bench: setup
	$(RUN) python -m elf_ros.bag.benchmark $(ARGS)

lint: setup
	$(RUN) ruff check .

clean:
	rm -rf build install log
