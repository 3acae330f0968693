"""The Storyteller serving process.

Kept import-light on purpose: the serving path runs on onnxruntime, tokenizers and numpy
alone, so nothing under server/ may import torch or transformers (a test enforces it).
"""
