"""A trained DDPO model's weights: exported once a run has trained the epochs asked of it, and all that
evaluation needs of a run (``load_trained`` puts them into a pipeline, ``weights_record`` names them)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils import convert_state_dict_to_diffusers
from peft.utils import get_peft_model_state_dict
from safetensors import safe_open

from clipcreate_lib import artifacts

LORA_FILE = "pytorch_lora_weights.safetensors"
TRAINED = "trained.json"  # epochs done and the run description, written after the weights they describe
EXPORTS = ("lora", "unet")  # the folder of each kind of trained weights


def export_weights(pipe: StableDiffusionPipeline, out_dir: Path, lora: bool) -> Path:
    """Write the trained weights where ``load_trained`` finds them, a whole folder swapped in at once:
    the LoRA in diffusers' format (``pipe.load_lora_weights(out_dir / 'lora')`` works on it too), or
    the whole UNet. The same weights give the same content (``content_bytes``) in any process."""
    target = Path(out_dir) / EXPORTS[0 if lora else 1]
    staging = artifacts.staging_dir(target)
    try:
        if lora:
            layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
            metadata = pipe.unet.peft_config["default"].to_dict()
            metadata["target_modules"] = sorted(metadata["target_modules"])  # a set, in hash order per process
            pipe.save_lora_weights(staging, unet_lora_layers=layers, unet_lora_adapter_metadata=metadata)
        else:
            pipe.unet.save_pretrained(staging)
        return artifacts.replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def trained_weights(out_dir: Path) -> tuple[str, list[Path]]:
    """Which trained weights ``out_dir`` holds, as ``load_trained`` reads them: ("lora", [the adapter
    file]) or ("unet", [the saved UNet's files])."""
    out_dir = Path(out_dir)
    if (out_dir / "lora" / LORA_FILE).exists():
        return "lora", [out_dir / "lora" / LORA_FILE]
    if (out_dir / "unet").exists():
        return "unet", sorted((out_dir / "unet").iterdir())
    raise FileNotFoundError(f"No trained weights in {out_dir}; run notebook 04_ddpo for this model first.")


def load_trained(pipe: StableDiffusionPipeline, out_dir: Path) -> StableDiffusionPipeline:
    """Put a trained model's weights (from ``Trainer``'s ``out_dir``) into ``pipe``."""
    kind, files = trained_weights(out_dir)
    if kind == "lora":
        # into the UNet alone: the adapter has no text-encoder part (pipe.load_lora_weights warns so)
        pipe.unet.load_lora_adapter(str(files[0].parent), weight_name=LORA_FILE, prefix="unet")
    else:
        unet = UNet2DConditionModel.from_pretrained(files[0].parent)
        pipe.unet.load_state_dict(unet.state_dict())
    return pipe


def weights_record(ddpo_dir: Path, profile: str) -> dict:
    """What a trained model is, for the provenance of its images: epochs and a digest of its weights."""
    trained_file = Path(ddpo_dir) / TRAINED
    if not trained_file.exists():
        raise FileNotFoundError(f"{ddpo_dir} holds no trained model; run notebook 04_ddpo for it first.")
    trained = json.loads(trained_file.read_text())
    if trained.get("profile") != profile:
        raise RuntimeError(
            f"{ddpo_dir} was trained for profile '{trained.get('profile')}', not '{profile}'; rerun notebook 04_ddpo."
        )
    digest = hashlib.sha256()
    for file in trained_weights(ddpo_dir)[1]:
        digest.update(file.name.encode() + content_bytes(file))
    return {"epochs": trained["epochs"], "weights_sha256": digest.hexdigest()}


def content_bytes(file: Path) -> bytes:
    """What a weights file holds, canonically: a safetensors file's metadata (keys sorted) and its
    tensors' bytes in name order, since safetensors writes the same metadata in an order of its own
    each time; any other file as it is."""
    if file.suffix != ".safetensors":
        return file.read_bytes()
    with safe_open(file, "pt") as tensors:
        parts = [json.dumps(tensors.metadata() or {}, sort_keys=True).encode()]
        for name in sorted(tensors.keys()):
            tensor = tensors.get_tensor(name)
            parts += [name.encode(), str(tensor.dtype).encode(), str(list(tensor.shape)).encode()]
            parts.append(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return b"".join(parts)
