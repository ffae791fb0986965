""" The one image decoder (timm_ml.image): what a viewer shows is what is scored, identically in every entry point."""
import io

import numpy as np
from PIL import Image

from timm_ml.image import decode_image, to_mode


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, :4] = 255  # left half white, 4 high x 8 wide
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways: a viewer rotates it 90 degrees clockwise
    img.save(tmp_path / 'rotated.jpg', exif=exif, quality=100)
    out = np.asarray(decode_image(str(tmp_path / 'rotated.jpg')))
    assert out.shape == (8, 4, 3)  # upright: 8 high x 4 wide
    assert out[:4].mean() > 200 and out[4:].mean() < 60  # the white half is now on top


def test_transparency_is_composited_on_white_not_black(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    rgba[0, 0] = (255, 0, 0, 255)  # one opaque red pixel
    rgba[1, 1] = (0, 0, 255, 128)  # half-transparent blue
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'a.png')
    out = np.asarray(decode_image(str(tmp_path / 'a.png')))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[3, 3]) == (255, 255, 255)  # PIL's own convert('RGB') gives (0, 0, 0) here
    assert tuple(out[1, 1]) in ((127, 127, 255), (126, 126, 255), (127, 127, 254))
    palette = Image.fromarray(np.array([[0, 1], [1, 1]], np.uint8), 'P')
    palette.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    palette.info['transparency'] = 0
    buf = io.BytesIO()
    palette.save(buf, 'PNG', transparency=0)
    buf.seek(0)
    out = np.asarray(decode_image(buf))
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[1, 1]) == (10, 200, 10)


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 257, 32896, 65535]], np.uint16)
    Image.fromarray(levels).save(tmp_path / 'g.png')  # a 16-bit greyscale PNG
    out = np.asarray(decode_image(str(tmp_path / 'g.png'), 'L'))
    assert out.tolist() == [[0, 1, 128, 255]]  # PIL's own conversion clips: [[0, 255, 255, 255]]
    assert np.asarray(decode_image(str(tmp_path / 'g.png'), 'RGB'))[0, 2].tolist() == [128, 128, 128]


def test_decoding_an_open_image_again_changes_nothing(tmp_path):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (6, 5, 3), dtype=np.uint8))
    img.save(tmp_path / 'x.png')
    once = decode_image(str(tmp_path / 'x.png'))
    assert np.array_equal(np.asarray(to_mode(once)), np.asarray(once))


def test_float_greyscale_is_read_by_its_range(tmp_path):
    """32-bit float TIFFs ('F'): PIL's own conversion clips, so a [0, 1] image would be black."""
    ramp = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    for scale, expected in ((1., np.rint(ramp * 255)), (255., np.rint(ramp * 255)),
                            (65535., np.rint(ramp * 65535 / 257)), (-3., np.rint((1 - ramp) * 255))):
        path = tmp_path / f'f{scale}.tif'
        Image.fromarray(ramp * scale, mode='F').save(path)
        got = np.asarray(decode_image(str(path), 'L'), dtype=np.float64)
        assert np.abs(got - expected).max() <= 1, scale
    nan = ramp.copy()
    nan[0, 0] = np.nan
    Image.fromarray(nan, mode='F').save(tmp_path / 'nan.tif')
    got = np.asarray(decode_image(str(tmp_path / 'nan.tif'), 'L'))
    assert got[0, 0] == 0 and got[-1, -1] == 255
