# Two commands for a new user (see README.md):
#   make demo   the main job on the embedded synthetic corpus, in .venv (no TensorFlow)
#   make test   the test suite, in .venv-test (with the test extra, which brings TensorFlow)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
DATA_DIR ?= data
WORKDIR ?= runs/demo
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: demo test test-quick bench clean

.venv/.installed: setup.py
	test -x .venv/bin/python || $(PYTHON) -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -q -e ".[faces]"
	touch $@

.venv-test/.installed: setup.py
	test -x .venv-test/bin/python || $(PYTHON) -m venv .venv-test
	.venv-test/bin/python -m pip install -q --upgrade pip
	.venv-test/bin/python -m pip install -q -e ".[test]"
	touch $@

demo: .venv/.installed
	.venv/bin/clp-data build synthetic_au --config pretrain --data_dir $(DATA_DIR)
	.venv/bin/clp-data build synthetic_au --config labelled --data_dir $(DATA_DIR)
	.venv/bin/clp-data stats synthetic_au --config labelled --data_dir $(DATA_DIR)
	.venv/bin/clp-pretrain --config configs/default.py --workdir $(WORKDIR)/clp \
	    --config.data.data_dir=$(DATA_DIR)
	.venv/bin/clp-export --workdir $(WORKDIR)/clp --out $(WORKDIR)/export/clp
	.venv/bin/clp-eval --encoder $(WORKDIR)/export/clp --name clp \
	    --config configs/eval/synthetic_au.py:demo --workdir $(WORKDIR)/eval \
	    --config.data.data_dir=$(DATA_DIR)
	.venv/bin/python -m data_builders.synthetic_au.demo_video --out $(WORKDIR)/synthetic_clip.mp4
	.venv/bin/clp-detect $(WORKDIR)/synthetic_clip.mp4 --model $(WORKDIR)/eval/models/clp \
	    --out $(WORKDIR)/detect

test: .venv-test/.installed
	.venv-test/bin/python -m pytest $(PYTEST_ARGS)

# The quick subset: everything but the slow end-to-end tests.
test-quick: .venv-test/.installed
	.venv-test/bin/python -m pytest $(PYTEST_ARGS) -m "not slow"

bench: .venv/.installed
	.venv/bin/python -m pip install -q -e ".[bench]"
	.venv/bin/python benchmarks/input_pipeline.py --data_dir $(DATA_DIR)
	.venv/bin/python benchmarks/train_step.py

clean:
	rm -rf .venv .venv-test $(DATA_DIR) runs .jax_test_cache
