"""A trained DDPO model's weights: exported by the trainer after every epoch, and all that evaluation
needs of a run (``load_trained`` puts them into a pipeline, ``weights_record`` names them)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils import convert_state_dict_to_diffusers
from peft.utils import get_peft_model_state_dict

LORA_FILE = "pytorch_lora_weights.safetensors"
TRAINED = "trained.json"  # epochs done and the run description, written after the weights in every epoch


def export_weights(pipe: StableDiffusionPipeline, out_dir: Path, lora: bool) -> None:
    """Write the trained weights where ``load_trained`` finds them: the LoRA in diffusers' format
    (``pipe.load_lora_weights(out_dir / 'lora')`` works on it too), or the whole UNet."""
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        if lora:
            layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
            metadata = pipe.unet.peft_config["default"].to_dict()
            pipe.save_lora_weights(tmp, unet_lora_layers=layers, unet_lora_adapter_metadata=metadata)
            (out_dir / "lora").mkdir(exist_ok=True)
            Path(tmp, LORA_FILE).replace(out_dir / "lora" / LORA_FILE)
        else:
            pipe.unet.save_pretrained(tmp)
            (out_dir / "unet").mkdir(exist_ok=True)
            for file in Path(tmp).iterdir():
                file.replace(out_dir / "unet" / file.name)


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
        digest.update(file.name.encode() + file.read_bytes())
    return {"epochs": trained["epochs"], "weights_sha256": digest.hexdigest()}
