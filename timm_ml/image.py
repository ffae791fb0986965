""" The one image decoder: train, validate, infer and the torch-free ONNX reader all turn a file into pixels here.

What a viewer shows is what is scored:
- EXIF orientation is applied (a phone photo stored sideways is rotated upright, as every viewer shows it);
- transparency (RGBA, LA, palette with a transparent colour) is composited on white, the page background most
  viewers draw behind a transparent image (PIL's own conversion drops the alpha and keeps whatever colour sits under
  the transparent pixels, often black);
- 16-bit greyscale (PNG 'I;16', 'I') is scaled to 8 bits (PIL's conversion clips every level above 255 to white);
- 32-bit float greyscale (TIFF 'F') is read by its range: values within [0, 1] are scaled by 255, within [0, 255]
  kept, within [0, 65535] scaled as 16-bit, any other range stretched from its minimum to its maximum; NaN is black
  (PIL's conversion clips, so a [0, 1] image would be all black).

Only numpy and Pillow are imported, so `timm_ml.deploy` can use it without torch.
"""
import numpy as np
from PIL import Image, ImageOps

HIGH_BIT_DEPTH_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I')
BACKGROUND = (255, 255, 255)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or (img.mode == 'P' and 'transparency' in img.info)


def _float_to_8bit(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low >= 0 and high <= 1:
        values = values * 255
    elif low >= 0 and high <= 255:
        pass
    elif low >= 0 and high <= 65535:
        values = values / 257
    else:
        values = (values - low) * (255 / (high - low)) if high > low else values * 0
    return np.rint(values).clip(0, 255).astype(np.uint8)


def to_mode(img: Image.Image, mode: str = 'RGB') -> Image.Image:
    """Convert an opened image into `mode` the way every entry point does (see the module docstring)."""
    img = ImageOps.exif_transpose(img)
    if img.mode in HIGH_BIT_DEPTH_MODES:
        values = np.asarray(img, dtype=np.int64)
        img = Image.fromarray((values.clip(0, 65535) // 257).astype(np.uint8), mode='L')
    elif img.mode == 'F':
        img = Image.fromarray(_float_to_8bit(np.asarray(img, dtype=np.float64)), mode='L')
    if _has_alpha(img) and mode not in ('RGBA', 'LA'):
        rgba = img.convert('RGBA')
        background = Image.new('RGBA', rgba.size, BACKGROUND + (255,))
        img = Image.alpha_composite(background, rgba).convert('RGB')
    return img if img.mode == mode else img.convert(mode)


def decode_image(path_or_file, mode: str = 'RGB') -> Image.Image:
    """Open and fully decode an image file (a path or a binary file object) into `mode`."""
    if isinstance(path_or_file, (str, bytes)) or hasattr(path_or_file, '__fspath__'):
        with open(path_or_file, 'rb') as f:
            img = Image.open(f)
            img.load()
    else:
        img = Image.open(path_or_file)
        img.load()
    return to_mode(img, mode)
