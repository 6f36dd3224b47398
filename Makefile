# Entry points; each one sets up what it needs first (scripts/setup_env.sh is idempotent).
.PHONY: setup test demo lint bench eval scoreboard bag bag-bench motion tracks clean
RUN = bash -c 'source scripts/ros_env.sh && "$$@"' _

setup:
	scripts/setup_env.sh

test:
	scripts/run_tests.sh

demo: setup
	$(RUN) scripts/demo.sh $(ARGS)

bench: setup
	$(RUN) python -m elf_ros.bench $(ARGS)

eval: setup
	$(RUN) python -m elf_ros.eval $(ARGS)

# elf-bag: `make bag ARGS="process in_bag out_bag --preset efficientnet_lite0"` (or `info in_bag`)
bag: setup
	$(RUN) python -m elf_ros.bag $(ARGS)

bag-bench: setup
	$(RUN) python -m elf_ros.bag.benchmark $(ARGS)

# The scoreboard of docs/evaluation.md and README.md: every shared HPatches/Oxford sequence,
# grouped by kind of change, every ELF preset against the classical detectors (10-20 min on
# 2 CPU cores); rewrites the <!-- scoreboard:begin --> blocks of both files.
SCOREBOARD_ARGS = --dataset oxford:../shared/data --dataset hpatches:../shared/data/hpatches \
	--methods 'sift,orb,akaze,kaze,elf-*' \
	--weights vgg19=../shared/weights/vgg19_normalised_conv3_1/vgg_normalised_conv3_1.pth \
	--out docs/results/scoreboard --match-methods none --quiet \
	--docs docs/evaluation.md --docs README.md

scoreboard: setup
	$(RUN) python -m elf_ros.eval $(SCOREBOARD_ARGS) $(ARGS)

# Relative pose on sequences with ground truth (docs/motion.md): the three shared sequences, the
# offline default with and without match refinement, its keypoints with SIFT descriptors (the
# detector control) and the classical methods; prints the issue-16 target. ARGS replaces these.
MOTION_ARGS ?= --sequence ../shared/data/kitti_seq1 --sequence ../shared/data/kitti00_turn \
	--sequence ../shared/data/tum_fr2_desk_seq \
	--methods elf-efficientnet_lite1,elf-efficientnet_lite1+sift,sift,orb,akaze \
	--refine none,lk --threads 1 --out docs/results/motion
motion: setup
	$(RUN) python -m elf_ros.eval.motion $(if $(ARGS),$(ARGS),$(MOTION_ARGS))

# Feature tracks vs VINS's KLT front end and SIFT (docs/tracking.md); ARGS replaces these options.
TRACKS_ARGS ?= --sequence ../shared/data/kitti_seq1 --sequence ../shared/data/kitti00_turn \
	--sequence ../shared/data/tum_fr2_desk_seq --threads 1 --out docs/results/tracks
tracks: setup
	$(RUN) nice -n 5 python -m elf_ros.eval.tracks $(if $(ARGS),$(ARGS),$(TRACKS_ARGS))

lint: setup
	$(RUN) ruff check .

clean:
	rm -rf build install log
