# Fresh machine: Python 3.11 and a RabbitMQ server. `make demo` and `make test` install what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_ARGS ?=

.PHONY: install demo test lint validate lambda-wheels bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The generic text recognizer's model (PaddleOCR's PP-OCRv6, from rapidocr's wheel on PyPI,
# hash-checked) is not kept in git; the reader and the layer's build need it.
TEXT_MODEL := src/meter_reading/reader/models/PP-OCRv6_rec_small.onnx
$(TEXT_MODEL): $(BIN)/.installed src/meter_reading/reader/text_recognizer.py
	$(BIN)/python -m meter_reading.reader.text_recognizer --fetch
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed $(TEXT_MODEL) node_modules/.installed

demo: $(BIN)/.installed $(TEXT_MODEL)
	$(BIN)/meter-reading demo $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest

# Each Lambda's app.py is its own top-level module `app`, so mypy checks them one by one.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy src tests bench
	for fn in functions/*/; do $(BIN)/mypy "$$fn"app.py || exit 1; done

# `sam validate --lint` needs no AWS account; aws-sam-cli lives in a venv of its own (its
# pins are not the project's).
.sam-venv/bin/sam:
	$(PYTHON) -m venv .sam-venv
	.sam-venv/bin/python -m pip install --quiet aws-sam-cli==1.170.0

validate: .sam-venv/bin/sam
	SAM_CLI_TELEMETRY=0 .sam-venv/bin/sam validate --lint --region us-east-1
	$(MAKE) lambda-wheels

# Every function's requirements must have wheels that Lambda's python3.11 on arm64 loads
# (Amazon Linux 2, glibc 2.26: manylinux2014), or `sam build` fails (or the import, deployed).
lambda-wheels: .sam-venv/bin/sam
	rm -rf .lambda-wheels
	for req in functions/*/requirements.txt; do \
	  .sam-venv/bin/python -m pip download --quiet --only-binary=:all: \
	    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp \
	    -d .lambda-wheels -r "$$req" || exit 1; \
	done
	rm -rf .lambda-wheels

bench: $(BIN)/.installed
	$(BIN)/python bench/reading_accuracy.py

clean:
	rm -rf $(VENV) .sam-venv node_modules .pytest_cache .mypy_cache .ruff_cache
