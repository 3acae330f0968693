"""The server's own generation loop over an ONNX decoder with its KV cache.

One module per job, in the order a token goes through them:

- prompt: the prompt layout the story model was trained on (BOS, style, emotion, text);
- decoder: prefill and one-token steps over the onnxruntime session;
- kv_cache: rows of different lengths in one right-aligned, masked cache;
- sampling: penalties, temperature, top-k/top-p and a seeded draw, per row;
- detokenize: token ids to text without splitting a UTF-8 character;
- stopping: stop strings across token boundaries;
- scheduler: continuous batching in a worker thread (admit, step, leave);
- generator: the async face for servicers and the CLI, with emotion reranking.

Only onnxruntime, tokenizers and numpy: the serving path never imports torch.
"""
