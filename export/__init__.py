"""Offline model work: training, Hugging Face -> ONNX export, int8 quantization, parity checks.

Needs the `export` extra (torch, transformers, optimum); the server never imports it.

Models come from local folders only. HF_HUB_OFFLINE is forced here, before any submodule
imports huggingface_hub (which reads it once, at import), so that a typo in a model path
fails at once with "not found" instead of trying the network.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
