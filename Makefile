# HalfPipe — every entry point a person or CI uses. `make demo` and `make test` do all set-up.
SHELL := /bin/bash
PYTHON := .venv/bin/python
RELEASE_BIN := .build/release/halfpipe
DEMO_MODEL := .cache/material/models/rapidocr/ch_PP-OCRv4_det_infer.onnx
FUZZ_SECONDS ?= 180

.PHONY: setup material reference build demo test bench-kernels fuzz clean

setup:
	@bash scripts/setup.sh

material: setup
	@bash scripts/fetch-test-material.sh

# numpy/ml_dtypes-made reference data the Tensors tests compare with, bit for bit.
reference: material
	@$(PYTHON) scripts/make-reference-data.py .cache/reference

build:
	swift build -c release --product halfpipe

# The main job on a bundled real model (grows with each issue): for now, inspect the PP-OCRv4
# text detector and show the FP16 risks a conversion must handle.
demo: material build
	$(RELEASE_BIN) inspect $(DEMO_MODEL)

test: reference
	swift build --build-tests
	swift test --skip-build

# float32→float16 vs memcpy and numpy; model load/save vs Python onnx. Last line: JSON.
bench-kernels: material
	swift build -c release --product halfpipe-bench
	@bash bench/kernels.sh

# libFuzzer over the model loader (needs clang's fuzzer runtime, shipped with the Swift toolchain).
fuzz: material
	@bash scripts/fuzz-loader.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build .build-fuzz
