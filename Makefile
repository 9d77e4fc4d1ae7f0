# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv when absent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out

.PHONY: demo test install report clean-venv

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# The main job on the bundled photo (examples/chelsea.png, CC0): upscale it ×4 with the shipped default
# model, then score bicubic and that model on its ×4-downscaled copy with the benchmark protocol.
demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/srgan upscale examples/chelsea.png -o $(OUT)/chelsea_x4.png
	$(BIN)/srgan evaluate --model bicubic --data examples
	$(BIN)/srgan evaluate --model $$($(BIN)/python -c "import srgan; print(srgan.DEFAULT_UPSCALER)") --data examples

# docs/RESULTS.md, its CSVs and figures: bicubic, every peer in ../shared/peers and our shipped models (tens of minutes).
report: $(STAMP)
	$(BIN)/srgan report --out docs

test: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: could not install chromium (needs root and Debian's apt); the browser test will skip"
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
