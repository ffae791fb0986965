""" The torch-free reader's preprocessing equals timm's evaluation transform (the reference, run here) for every crop
mode, square and non-square inputs, images larger and smaller than the crop, and any crop_pct."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from timm.data import create_transform

from timm_ml.deploy.onnx_model import ExportedMultiLabelModel


def _reader(preprocessing):
    reader = ExportedMultiLabelModel()
    reader.meta = dict(preprocessing=preprocessing)
    return reader


@settings(deadline=None)
@given(st.integers(8, 90), st.integers(8, 90), st.integers(8, 48), st.integers(8, 48),
       st.sampled_from([0.75, 0.875, 0.9, 0.95, 1.0]), st.sampled_from(['center', 'squash', 'border']),
       st.sampled_from(['bilinear', 'bicubic', 'nearest']), st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_reader_preprocessing_equals_timms_eval_transform(w, h, height, width, crop_pct, crop_mode, interpolation,
                                                           square, seed):
    if square:
        width = height
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    reference = create_transform(input_size=(3, height, width), interpolation=interpolation, mean=mean, std=std,
                                 crop_pct=crop_pct, crop_mode=crop_mode, is_training=False)(img).numpy()
    got = _reader(dict(input_size=[3, height, width], interpolation=interpolation, mean=list(mean), std=list(std),
                       crop_pct=crop_pct, crop_mode=crop_mode)).preprocess(img)
    assert got.shape == reference.shape
    assert np.abs(got - reference).max() < 1e-5
