# Entry points; each one sets up what it needs first (scripts/setup_env.sh is idempotent).
.PHONY: setup test demo lint bench eval motion clean
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

# Relative pose on sequences with ground truth (docs/motion.md); ARGS adds or replaces options.
MOTION_ARGS ?= --sequence ../shared/data/kitti_seq1 --sequence ../shared/data/tum_fr2_desk_seq \
	--weights vgg19=../shared/weights/vgg19_normalised_conv3_1/vgg_normalised_conv3_1.pth \
	--out docs/results/motion
motion: setup
	$(RUN) python -m elf_ros.eval.motion $(if $(ARGS),$(ARGS),$(MOTION_ARGS))

lint: setup
	$(RUN) ruff check .

clean:
	rm -rf build install log
