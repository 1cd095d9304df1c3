"""Textual inversion (Gal et al. 2022) with diffusers components: the UNet, VAE and text encoder stay
frozen and only some rows of the text encoder's token-embedding matrix are learned, by the diffusion
model's own denoising loss on captioned images.

The learned rows live in their own small parameter while training; a forward hook on the embedding
layer puts them in place of the matrix's rows for their token ids, so the matrix itself is never
written until training ends (then only those rows are), and AdamW's state and the checkpoints hold
those rows only (a whole SD 2 matrix with its AdamW state would be 600 MB per checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline


def token_names(token: str, vectors: int) -> list[str]:
    """The vocabulary entries of a token of ``vectors`` rows: "<t>", "<t>_1", ... (diffusers' naming,
    which ``load_textual_inversion`` and the pipeline's prompt conversion expect)."""
    return [token] + [f"{token}_{i}" for i in range(1, vectors)]


def word_id(pipe: StableDiffusionPipeline, word: str) -> int:
    """The one token id of ``word``; a word the tokenizer splits has no single row to learn."""
    ids = pipe.tokenizer.encode(word, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"'{word}' is {len(ids)} tokens for this tokenizer, not one; choose a single-token word.")
    return ids[0]


def add_token(pipe: StableDiffusionPipeline, token: str, vectors: int, initializer: str) -> list[int]:
    """Add ``token`` with ``vectors`` new rows, each a copy of ``initializer``'s row; their ids."""
    names = token_names(token, vectors)
    start = word_id(pipe, initializer)
    known = [n for n in names if len(pipe.tokenizer.encode(n, add_special_tokens=False)) == 1]
    if known:  # a word of its own already (or an added token): a new row would shadow it
        raise ValueError(f"The tokenizer already knows {', '.join(known)} as one token; choose another token name.")
    pipe.tokenizer.add_tokens(names)
    pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer), mean_resizing=False)  # rows set below
    ids = pipe.tokenizer.convert_tokens_to_ids(names)
    weight = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weight[ids] = weight[start].clone()
    return ids


@contextmanager
def rows_in_place(pipe: StableDiffusionPipeline, ids: Sequence[int], rows: torch.Tensor):
    """While open, the embedding layer returns ``rows[k]`` for token ``ids[k]`` (differentiably) and
    its own rows for every other token; the matrix is not touched."""
    layer = pipe.text_encoder.get_input_embeddings()
    lookup = torch.zeros(layer.num_embeddings, dtype=torch.long, device=rows.device)
    lookup[torch.as_tensor(ids, device=rows.device)] = torch.arange(len(ids), device=rows.device)
    chosen = torch.as_tensor(ids, device=rows.device)

    def hook(_module, inputs, output):
        token_ids = inputs[0]
        mask = torch.isin(token_ids, chosen).unsqueeze(-1)
        return torch.where(mask, rows[lookup[token_ids]].to(output.dtype), output)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def encode_images(pipe: StableDiffusionPipeline, images: torch.Tensor) -> torch.Tensor:
    """Scaled VAE latents of images (N, 3, H, W) in [0, 1]: the KL autoencoder's mean (deterministic),
    or the miniature's pixel autoencoder's latents."""
    vae = pipe.vae
    with torch.no_grad():
        out = vae.encode((images * 2 - 1).to(vae.device, vae.dtype))
    latents = out.latent_dist.mode() if hasattr(out, "latent_dist") else out.latents
    return latents.float() * vae.config.scaling_factor


def text_states(pipe: StableDiffusionPipeline, texts: Sequence[str]) -> torch.Tensor:
    """The text encoder's hidden states of ``texts`` (multi-vector tokens expanded), with gradients."""
    texts = [pipe.maybe_convert_prompt(t, pipe.tokenizer) for t in texts]
    tokens = pipe.tokenizer(
        texts, padding="max_length", truncation=True, max_length=pipe.tokenizer.model_max_length, return_tensors="pt"
    )
    return pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0]


def denoising_loss(
    pipe: StableDiffusionPipeline, latents: torch.Tensor, captions: Sequence[str], batch_size: int, seed: int, step: int
) -> torch.Tensor:
    """The UNet's loss (its own target: noise or velocity) on one batch at uniform timesteps. The batch,
    noise and timesteps are drawn from (seed, step) alone, so a resumed run draws what it would have."""
    rng = np.random.default_rng([seed, step])
    rows = rng.choice(len(latents), size=min(batch_size, len(latents)), replace=False)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x0 = latents[rows]
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    scheduler = pipe.scheduler
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=generator).to(x0.device)
    states = text_states(pipe, [captions[i] for i in rows])
    prediction = pipe.unet(scheduler.add_noise(x0, noise, t), t, encoder_hidden_states=states.to(pipe.unet.dtype))
    velocity = scheduler.config.prediction_type == "v_prediction"
    target = scheduler.get_velocity(x0, noise, t) if velocity else noise
    return F.mse_loss(prediction.sample.float(), target.float())


def write_rows(pipe: StableDiffusionPipeline, ids: Sequence[int], rows: torch.Tensor) -> None:
    """Put learned ``rows`` into the embedding matrix at ``ids``, and nothing else."""
    weight = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weight[list(ids)] = rows.detach().to(weight.device, weight.dtype)
