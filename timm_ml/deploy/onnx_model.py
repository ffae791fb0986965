""" A timm_ml ONNX export read with ONNX Runtime, numpy and Pillow alone (no torch, no timm); its command line is
timm_ml.deploy.onnx_predict.

The file's metadata ('timm_ml') gives the label schema, per-class thresholds and preprocessing. Images are decoded by
timm_ml.image (EXIF orientation, transparency on white, 16-bit scaled: the one decoder infer.py uses), the
preprocessing below repeats timm's evaluation transform (resize the short side to size / crop_pct, centre crop,
scale to [0, 1], normalise), and labels are decoded by timm_ml.schema.decode, so scores and labels equal infer.py's.
"""
import json
import math

import numpy as np
from PIL import Image

from timm_ml.image import decode_image, to_mode
from timm_ml.schema import LabelGroup, LabelSchema

from .predictions import prediction_records, thresholds_for

FILTERS = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC, 'nearest': Image.NEAREST,
           'lanczos': Image.LANCZOS, 'hamming': Image.HAMMING, 'box': Image.BOX}


class ExportedMultiLabelModel:
    """ What every exported timm_ml model shares: its metadata, the preprocessing and the decoding. Subclasses run the
    graph (`_run`)."""

    def _setup(self, meta: dict):
        self.meta = meta
        self.classes = self.meta['classes']
        self.schema = _schema_of(self.meta)
        self.thresholds = thresholds_for(self.schema, self.meta.get('thresholds'), None if self.meta.get(
            'thresholds') is not None else self.meta.get('default_threshold', 0.5))

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """(C, H, W) float32 input of one image, as timm's evaluation transform makes it."""
        p = self.meta['preprocessing']
        chans, height, width = p['input_size']
        img = to_mode(img, 'RGB' if chans == 3 else 'L')
        filt = FILTERS.get(p['interpolation'], Image.BICUBIC)
        crop_pct = p['crop_pct'] or 1.0
        scale_h, scale_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
        if p.get('crop_mode', 'center') == 'squash':
            img = img.resize((scale_w, scale_h), filt)
        elif p.get('crop_mode', 'center') == 'center':
            if height == width:  # torchvision Resize(int): the short side to scale, aspect kept
                w, h = img.size
                short, long = (w, h) if w <= h else (h, w)
                new_short, new_long = scale_h, int(scale_h * long / short)
                img = img.resize((new_short, new_long) if w <= h else (new_long, new_short), filt)
            else:
                img = img.resize((scale_w, scale_h), filt)
        else:
            raise ValueError(f'crop_mode {p["crop_mode"]!r} is not supported by this reader (center, squash)')
        w, h = img.size
        left, top = int(round((w - width) / 2.)), int(round((h - height) / 2.))
        img = img.crop((left, top, left + width, top + height))
        x = np.asarray(img, dtype=np.float32).reshape(height, width, chans) / 255.
        x = (x - np.asarray(p['mean'], np.float32)) / np.asarray(p['std'], np.float32)
        return x.transpose(2, 0, 1)

    def scores(self, images) -> np.ndarray:
        """(N, C) scores of PIL images or image paths."""
        batch = np.stack([self.preprocess(decode_image(i) if isinstance(i, str) else i) for i in images])
        return self._run(batch)

    def predict(self, images, threshold=None):
        """Per image: the decoded labels, one entry per group (value and score), the tags and the scores by class."""
        paths = [i if isinstance(i, str) else f'image {n}' for n, i in enumerate(images)]
        cut = self.thresholds if threshold is None else thresholds_for(self.schema, None, threshold)
        return list(prediction_records(paths, self.scores(images), self.schema, cut))


class OnnxMultiLabelModel(ExportedMultiLabelModel):
    """ A timm_ml ONNX export, ready to predict.

    Args:
        path: The .onnx file written by `infer.py --export onnx`.
        providers: ONNX Runtime execution providers.
    """

    def __init__(self, path: str, providers=('CPUExecutionProvider',)):
        import onnxruntime as ort
        self.session = ort.InferenceSession(path, providers=list(providers))
        meta = self.session.get_modelmeta().custom_metadata_map
        if 'timm_ml' not in meta:
            raise ValueError(f'{path} carries no timm_ml metadata: export it with infer.py --export onnx')
        self._setup(json.loads(meta['timm_ml']))

    def _run(self, batch):
        return self.session.run(['scores'], {'input': batch})[0]


class OpenVinoMultiLabelModel(ExportedMultiLabelModel):
    """ A timm_ml OpenVINO IR export (float or INT8), ready to predict with OpenVINO Runtime.

    Args:
        path: The .xml written by `infer.py --export openvino [--int8]`. device: OpenVINO device (default CPU).
    """

    def __init__(self, path: str, device: str = 'CPU'):
        import openvino as ov
        core = ov.Core()
        model = core.read_model(path)
        if not model.has_rt_info(['model_info', 'timm_ml']):
            raise ValueError(f'{path} carries no timm_ml metadata: export it with infer.py --export openvino')
        self._setup(json.loads(model.get_rt_info(['model_info', 'timm_ml']).astype(str)))
        self.compiled = core.compile_model(model, device)

    def _run(self, batch):
        return self.compiled(batch)[0]


def _schema_of(meta) -> LabelSchema:
    if meta.get('schema'):
        return LabelSchema.from_dict(meta['schema'])
    groups, start = [], 0  # format 1: attribute groups of sizes, in order
    for g in meta.get('attribute_groups') or []:
        size = g['size']
        groups.append(LabelGroup(g['name'], [c.split('=', 1)[-1] for c in meta['classes'][start:start + size]], start))
        start += size
    return LabelSchema(meta['classes'], groups)
