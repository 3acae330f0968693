"""Offline model work: training, Hugging Face -> ONNX export, int8 quantization, parity checks.

Needs the `export` extra (torch, transformers, optimum); the server never imports it.
"""
