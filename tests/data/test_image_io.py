"""Every image mode Pillow opens becomes 8-bit RGB by its value range, and rows without a style label
are skipped and counted, never stored under a style."""

import io

import datasets
import numpy as np
import pytest
from PIL import Image

from clipcreate_lib.config import DataConfig
from clipcreate_lib.data import image_io, wikiart


def _png(image: Image.Image) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def _grey(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image_io.to_rgb(image))
    assert (
        image_io.to_rgb(image).mode == "RGB"
        and (rgb[..., 0] == rgb[..., 1]).all()
        and (rgb[..., 1] == rgb[..., 2]).all()
    )
    return rgb[..., 0]


def test_sixteen_bit_greyscale_is_scaled_not_clipped_to_white():
    half = Image.fromarray(np.full((4, 4), 32768, np.uint16))  # Pillow's I;16
    assert half.mode == "I;16" and (_grey(half) == 128).all()  # 32768 / 65535 * 255 = 127.5
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16).reshape(16, 16)
    scaled = _grey(Image.fromarray(ramp))
    assert scaled.min() == 0 and scaled.max() == 255 and (np.diff(scaled.ravel().astype(int)) >= 0).all()
    decoded = image_io.decode_image(_png(half))  # through a 16-bit PNG, as a dataset row holds it
    assert decoded.mode == "RGB" and np.asarray(decoded)[0, 0].tolist() == [128, 128, 128]


@pytest.mark.parametrize(
    "values, expected",
    [
        (np.full((2, 2), 40000, np.int32), 156),  # 32-bit integers past 255: the 16-bit range
        (np.full((2, 2), 200, np.int32), 200),  # 32-bit integers within 0..255: as they are
        (np.full((2, 2), 0.5, np.float32), 128),  # floats in [0, 1]
        (np.full((2, 2), 500.0, np.float32), 255),  # floats past 255: their own range
    ],
)
def test_wide_integer_and_float_modes_map_by_their_range(values, expected):
    image = Image.fromarray(values)
    assert image.mode in ("I", "F") and (_grey(image) == expected).all()


def test_transparency_is_laid_over_white_and_colour_modes_convert():
    la = Image.fromarray(np.array([[[60, 0], [60, 255]]], np.uint8), mode="LA")
    assert _grey(la).tolist() == [[255, 60]]  # transparent -> white, opaque -> its grey
    rgba = Image.new("RGBA", (1, 1), (10, 20, 30, 0))
    assert np.asarray(image_io.to_rgb(rgba))[0, 0].tolist() == [255, 255, 255]
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0  # colour 0 is transparent
    assert np.asarray(image_io.to_rgb(palette)).tolist() == [[[255, 255, 255], [200, 10, 10]]]
    pa = palette.convert("PA")
    assert pa.mode == "PA" and np.asarray(image_io.to_rgb(pa)).tolist() == [[[255, 255, 255], [200, 10, 10]]]
    cmyk = Image.new("CMYK", (1, 1), (0, 0, 0, 0))
    assert np.asarray(image_io.to_rgb(cmyk))[0, 0].tolist() == [255, 255, 255]


def test_rows_without_a_style_label_are_skipped_and_counted(tmp_path):
    names = ["Baroque", "Cubism", "Ukiyo_e"]
    red = _png(Image.new("RGB", (8, 8), (255, 0, 0)))
    rows = [(red, 0), (red, -1), (red, None), (red, 1)]
    features = datasets.Features({"image": datasets.Image(), "style": datasets.ClassLabel(names=names)})
    ds = datasets.Dataset.from_dict({"image": [r for r, _ in rows], "style": [s for _, s in rows]}, features=features)
    folder = tmp_path / "wikiart"
    folder.mkdir()
    ds.to_parquet(str(folder / "train.parquet"))
    cfg = DataConfig(source="wikiart", dataset_id=str(folder), streaming=False, image_size=8)
    skipped = wikiart.SkipCount()
    _, stream = wikiart.open_wikiart(cfg, skipped)
    records = list(stream)
    assert [(r.index, r.style) for r in records] == [(0, "Baroque"), (3, "Cubism")]  # -1 is not Ukiyo_e
    assert (skipped.unreadable, skipped.unlabelled) == (0, 2)
    assert str(skipped) == "0 unreadable images, 2 rows without a style label"
