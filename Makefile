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
# model, then score bicubic and that model with the benchmark protocol on the photo's ×4-downscaled copy and
# on the same copy saved as JPEG 75: the default is made for JPEG photos, and on a clean input alone its PSNR
# can sit at bicubic's, which would read as a broken model.
DEFAULT_MODEL = $$($(BIN)/python -c "import srgan; print(srgan.DEFAULT_UPSCALER)")
demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/srgan upscale examples/chelsea.png -o $(OUT)/chelsea_x4.png
	@echo "--- clean ×4-downscaled input (the benchmark protocol)"
	$(BIN)/srgan evaluate --model bicubic --data examples
	$(BIN)/srgan evaluate --model $(DEFAULT_MODEL) --data examples
	@echo "--- the same input saved as JPEG 75, what photos usually are (blockiness: 1.0 = no 8x8 JPEG tiles drawn)"
	$(BIN)/srgan evaluate --model bicubic --data examples --degrade jpeg75
	$(BIN)/srgan evaluate --model $(DEFAULT_MODEL) --data examples --degrade jpeg75
	@echo "The *-real models are for JPEG, blurred or noisy photos; on clean inputs --model srresnet-x4 scores higher PSNR (srgan models lists them)."

# docs/RESULTS.md, its CSVs and figures: bicubic, every peer in ../shared/peers and our shipped models (tens of minutes).
report: $(STAMP)
	$(BIN)/srgan report --out docs

test: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: could not install chromium (needs root and Debian's apt); the browser test will skip"
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
