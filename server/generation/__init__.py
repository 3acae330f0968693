"""The server's own generation loop over an ONNX decoder with its KV cache.

One module per job, in the order a token goes through them:

- prompt: the prompt layout the story model was trained on (BOS, style, emotion, text);
- decoder: prefill and one-token steps over the onnxruntime session;
- kv_cache: rows of different lengths in one right-aligned, masked cache;
- sampling: SamplingConfig, the settings' one definition; penalties, temperature, top-k/top-p/min-p
  and a seeded draw, per row;
- detokenize: token ids to text without splitting a UTF-8 character;
- stopping: stop strings across token boundaries;
- scheduler: continuous batching in a worker thread (admit, step, leave);
- plan: a request made concrete (prompt ids, rows, the one place a seed is drawn);
- mailbox, events: the scheduler's events into the caller's event loop;
- rerank: choosing among a request's candidates (judge, then target emotion);
- filtered: text screened by the content filter before it is sent, resampled when blocked;
- generator: the async face for servicers and the CLI.

Only onnxruntime, tokenizers and numpy: the serving path never imports torch.
"""
