"""The released models' architectures, written down so the ``paper-shaped`` profile can build them offline.

Each dict is the architecture part of the checkpoint's ``config.json`` (stabilityai/stable-diffusion-2-base:
unet/, vae/, text_encoder/; openai/clip-vit-large-patch14), so seeded random weights of exactly the
paper's shapes can be timed on a machine that has no model hub. Token ids (bos, eos, pad) are not
here: they come from the tokenizer the model is built with.
"""

from __future__ import annotations

# stabilityai/stable-diffusion-2-base unet/config.json: 865.9M parameters, 64x64x4 latents.
SD2_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
    norm_num_groups=32,
    norm_eps=1e-5,
    act_fn="silu",
    flip_sin_to_cos=True,
    freq_shift=0,
    downsample_padding=1,
    mid_block_scale_factor=1,
    center_input_sample=False,
)

# stabilityai/stable-diffusion-2-base vae/config.json: 83.7M parameters, 512 px <-> 64x64x4.
SD2_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    norm_num_groups=32,
    act_fn="silu",
    sample_size=512,
    scaling_factor=0.18215,
)

# stabilityai/stable-diffusion-2-base text_encoder/config.json: OpenCLIP ViT-H/14's text tower
# (its last layer dropped) as a CLIPTextModel, 340.4M parameters.
SD2_TEXT_ENCODER = dict(
    vocab_size=49408,
    max_position_embeddings=77,
    hidden_size=1024,
    intermediate_size=4096,
    num_attention_heads=16,
    num_hidden_layers=23,
    projection_dim=512,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
)

# openai/clip-vit-large-patch14 config.json: 427.6M parameters.
CLIP_VIT_L14 = dict(
    text_config=dict(
        vocab_size=49408,
        max_position_embeddings=77,
        hidden_size=768,
        intermediate_size=3072,
        num_attention_heads=12,
        num_hidden_layers=12,
        projection_dim=768,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    ),
    vision_config=dict(
        image_size=224,
        patch_size=14,
        hidden_size=1024,
        intermediate_size=4096,
        num_attention_heads=16,
        num_hidden_layers=24,
        projection_dim=768,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    ),
    projection_dim=768,
    logit_scale_init_value=2.6592,
)

# Its image processor: shortest side 224 (bicubic), center crop 224, OpenAI's mean and std.
CLIP_VIT_L14_PROCESSOR = dict(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
