# boxnet: the two commands of the README, plus the benchmarks.
#   make demo   install, start boxnetd (in its own netns), run Docker's networking guide
#   make test   install, then run every test (unit, kernel, integration)
#   make bench  install, then benchmark boxnet side by side with its peers (QUICK=1: < 5 min)
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: install install-dev demo test test-unit bench clean

install:
	scripts/install.sh

install-dev:
	scripts/install.sh --dev

demo: install
	scripts/demo.sh

test: install-dev
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: install-dev
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

bench: install-dev
	bench/install.sh
	$(PY) -m bench.run $(if $(QUICK),--quick,)

clean:
	rm -rf .venv build src/*.egg-info
