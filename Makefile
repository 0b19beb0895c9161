# The two commands a new user needs: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := out

.PHONY: system-deps node-adapter demo test lint typecheck speclint compat vectors-check docs docs-check pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

## demo: validate every schema example, example document and vector, show lineage, keep, sign, verify and prove an
## audit log, check, render and export a model card, check the reference model server against its serving contract,
## then certify the reference implementation against every conformance profile: a signed report, verified
demo: $(STAMP)
	@mkdir -p $(OUT)
	$(BIN)/aifabric schemas check
	$(BIN)/aifabric validate examples/*.json examples/*.jsonl examples/*.yaml conformance/vectors
	@port=$$($(BIN)/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	url=http://127.0.0.1:$$port; rm -f $(OUT)/lineage.sqlite*; \
	$(BIN)/aifabric serve collector --port $$port --db $(OUT)/lineage.sqlite > $(OUT)/collector.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 100); do $(BIN)/aifabric lineage tail -n 1 --url $$url > /dev/null 2>&1 && break; sleep 0.1; done; \
	echo "+ aifabric lineage emit examples/lineage-events.jsonl (to the reference collector at $$url)"; \
	$(BIN)/aifabric lineage emit examples/lineage-events.jsonl --url $$url && \
	echo "+ aifabric lineage graph churn-classifier --depth 2" && \
	$(BIN)/aifabric lineage graph churn-classifier --depth 2 --url $$url
	@rm -rf $(OUT)/audit-log $(OUT)/audit-key.pem $(OUT)/audit-key.pem.pub
	$(BIN)/aifabric keys generate $(OUT)/audit-key.pem --type ed25519 --unencrypted
	$(BIN)/aifabric audit append $(OUT)/audit-log examples/audit-records.jsonl --origin demo.aifabric.dev/audit
	$(BIN)/aifabric audit checkpoint $(OUT)/audit-log --key $(OUT)/audit-key.pem --out $(OUT)/audit-checkpoint.txt
	$(BIN)/aifabric audit verify $(OUT)/audit-log --checkpoint $(OUT)/audit-checkpoint.txt --key $(OUT)/audit-key.pem.pub
	$(BIN)/aifabric audit prove $(OUT)/audit-log 3 > $(OUT)/audit-proof.json
	$(BIN)/aifabric audit verify --proof $(OUT)/audit-proof.json --key $(OUT)/audit-key.pem.pub
	$(BIN)/aifabric audit tail $(OUT)/audit-log
	$(BIN)/aifabric card validate examples/model-card.yaml
	$(BIN)/aifabric card check examples/model-card.yaml --profile minimal
	$(BIN)/aifabric card render examples/model-card.yaml --format html -o $(OUT)/model-card.html
	$(BIN)/aifabric card export examples/model-card.yaml --to cyclonedx -o $(OUT)/model-card.cdx.json
	@port=$$($(BIN)/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	url=http://127.0.0.1:$$port; \
	$(BIN)/aifabric serve model --port $$port > $(OUT)/model-server.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 300); do $(BIN)/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
		$$url/v2/health/ready > /dev/null 2>&1 && break; sleep 0.1; done; \
	echo "+ aifabric serving check -c examples/serving-contract.yaml -e $$url -o $(OUT)/serving-report.json"; \
	$(BIN)/aifabric serving check -c examples/serving-contract.yaml -e $$url -o $(OUT)/serving-report.json; \
	rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@rm -f $(OUT)/certify-key.pem $(OUT)/certify-key.pem.pub
	$(BIN)/aifabric keys generate $(OUT)/certify-key.pem --type ed25519 --unencrypted
	$(BIN)/aifabric certify --target reference --profile all --key $(OUT)/certify-key.pem \
		--report $(OUT)/conformance-report.json --junit $(OUT)/conformance-junit.xml --html $(OUT)/conformance-report.html
	$(BIN)/aifabric certify verify $(OUT)/conformance-report.json --key $(OUT)/certify-key.pem.pub
	@echo "Lineage events are in $(OUT)/lineage.sqlite;"
	@echo "the audit log in $(OUT)/audit-log, its checkpoint in $(OUT)/audit-checkpoint.txt;"
	@echo "the model card rendered in $(OUT)/model-card.html and as CycloneDX in $(OUT)/model-card.cdx.json;"
	@echo "the serving report in $(OUT)/serving-report.json and $(OUT)/serving-report.html;"
	@echo "the signed conformance report of every profile in $(OUT)/conformance-report.json, as a page in"
	@echo "$(OUT)/conformance-report.html and as JUnit XML in $(OUT)/conformance-junit.xml"

## test: lint, type-check, spec lint, schema compatibility, vector and docs drift, strict docs build, then pytest
test: lint typecheck speclint compat vectors-check docs-check pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

speclint: $(STAMP)
	$(BIN)/python tools/spec_lint.py

compat: $(STAMP)
	$(BIN)/python tools/schema_compat.py

vectors-check: $(STAMP)
	$(BIN)/python tools/gen_signing_vectors.py --check
	$(BIN)/python tools/gen_audit_vectors.py --check

docs: $(STAMP)
	$(BIN)/python tools/gen_docs.py
	$(BIN)/mkdocs build --strict --site-dir site

docs-check: $(STAMP)
	$(BIN)/python tools/gen_docs.py --check
	@tmp=$$(mktemp -d) && $(BIN)/mkdocs build --strict --quiet --site-dir $$tmp; rc=$$?; rm -rf $$tmp; exit $$rc

pytest: $(STAMP) system-deps node-adapter
	$(BIN)/python -m pytest

## node-adapter: the ajv conformance adapter's pinned npm dependencies (idempotent); without them its tests skip
node-adapter:
	@conformance/adapters/node-ajv/install.sh || echo "the ajv adapter's npm packages cannot be installed: its tests will skip"

## system-deps: PostgreSQL (the collector's and the audit log's store), nats-server (the NATS transport), Go
## with golang.org/x/mod (the peer that checks audit checkpoints and proofs) and Node.js (the ajv conformance
## adapter), used by the tests; where they cannot be installed, their tests skip and say why
system-deps:
	@{ ls /usr/lib/postgresql/*/bin/initdb && command -v nats-server && command -v go \
		&& test -d /usr/share/gocode/src/golang.org/x/mod; } >/dev/null 2>&1 || { command -v apt-get >/dev/null \
		&& [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends postgresql nats-server golang-go golang-golang-x-mod-dev >/dev/null; } \
		|| echo "PostgreSQL, nats-server or Go cannot be installed: their tests will skip"
	@{ command -v node && command -v npm; } >/dev/null 2>&1 || { command -v apt-get >/dev/null \
		&& [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends nodejs npm >/dev/null; } \
		|| echo "Node.js cannot be installed: the ajv adapter's tests will skip"

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_audit.py
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
	$(BIN)/python benchmarks/bench_serving_load.py
	$(BIN)/python benchmarks/bench_tools_guard.py

clean:
	rm -rf $(VENV) $(OUT) site dist build .mypy_cache .ruff_cache .pytest_cache .hypothesis
