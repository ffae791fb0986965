""" A timm_ml ONNX export read with ONNX Runtime, numpy and Pillow alone (no torch, no timm); its command line is
timm_ml.deploy.onnx_predict.

The file's metadata ('timm_ml') gives the label schema, per-class thresholds and preprocessing. Images are decoded by
timm_ml.image (EXIF orientation, transparency on white, 16-bit scaled: the one decoder infer.py uses), the
preprocessing below repeats timm's evaluation transform (resize the short side to size / crop_pct, centre crop,
scale to [0, 1], normalise), and labels are decoded by timm_ml.schema.decode, so scores and labels equal infer.py's.
"""
import json
import math
import os
from typing import Optional

import numpy as np
from PIL import Image

from timm_ml.image import decode_image, to_mode
from timm_ml.schema import LabelGroup, LabelSchema
from timm_ml.utils.outside import OutsideValueError, check_group_names, check_names, check_probabilities

from .predictions import prediction_records, thresholds_for

FILTERS = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC, 'nearest': Image.NEAREST,
           'lanczos': Image.LANCZOS, 'hamming': Image.HAMMING, 'box': Image.BOX}


class ExportedMultiLabelModel:
    """ What every exported timm_ml model shares: its metadata, the preprocessing and the decoding. Subclasses run the
    graph (`_run`)."""

    def _setup(self, meta: dict, num_outputs: Optional[int], source: str):
        """The export's metadata, checked where it enters: class names one per output column, the schema over them,
        finite thresholds in (0, 1), preprocessing numbers, no group named like a record field."""
        if not isinstance(meta, dict) or not isinstance(meta.get('preprocessing'), dict):
            raise OutsideValueError(f'{source}: its timm_ml metadata is damaged (no preprocessing)')
        self.meta = meta
        self.classes = check_names(meta.get('classes'), num_outputs, 'class names', source)
        try:
            self.schema = _schema_of(self.meta)
        except (KeyError, TypeError, ValueError) as e:
            raise OutsideValueError(f'{source}: its label schema is damaged ({e})') from None
        if self.schema.classes != self.classes:
            raise OutsideValueError(f'{source}: its schema names other classes than its class list')
        check_group_names([g.name for g in self.schema.groups], source)
        thresholds = meta.get('thresholds')
        if thresholds is not None:
            thresholds = check_probabilities(thresholds, len(self.classes), 'thresholds', source)
        default = check_probabilities([meta.get('default_threshold', 0.5)], 1, 'default threshold', source)[0]
        self.thresholds = thresholds_for(self.schema, thresholds, None if thresholds is not None else float(default))
        p = meta['preprocessing']
        numbers = list(p.get('input_size') or []) + list(p.get('mean') or []) + list(p.get('std') or [])
        if len(p.get('input_size') or []) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                                          for v in numbers) or not all(v > 0 for v in p['std']):
            raise OutsideValueError(f'{source}: its preprocessing is damaged (input_size, mean, std)')

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """(C, H, W) float32 input of one image, as timm's evaluation transform makes it."""
        p = self.meta['preprocessing']
        chans, height, width = p['input_size']
        img = to_mode(img, 'RGB' if chans == 3 else 'L')
        filt = FILTERS.get(p['interpolation'], Image.BICUBIC)
        crop_pct = p['crop_pct'] or 1.0
        scale_h, scale_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
        mode = p.get('crop_mode') or 'center'
        w, h = img.size
        if mode == 'squash':
            img = img.resize((scale_w, scale_h), filt)
        elif mode == 'center' and scale_h == scale_w:  # torchvision Resize(int): the short side to scale
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(scale_h * long / short)
            img = img.resize((scale_h, new_long) if w <= h else (new_long, scale_h), filt)
        elif mode in ('center', 'border'):  # timm ResizeKeepRatio: the shorter (center) / longer (border) ratio
            ratios = (h / scale_h, w / scale_w)
            ratio = max(ratios) if mode == 'border' else min(ratios)
            img = img.resize((round(w / ratio), round(h / ratio)), filt)
        else:
            raise ValueError(f'crop_mode {mode!r} is not supported by this reader (center, squash, border)')
        img = _center_crop_or_pad(img, height, width, tuple(round(255 * v) for v in p['mean'])
                                  if mode == 'border' else 0)
        x = np.asarray(img, dtype=np.float32).reshape(height, width, chans) / 255.
        x = (x - np.asarray(p['mean'], np.float32)) / np.asarray(p['std'], np.float32)
        return x.transpose(2, 0, 1)

    def scores(self, images) -> np.ndarray:
        """(N, C) scores of PIL images or image paths."""
        return self._run(np.stack([self.preprocess(_read(i) if isinstance(i, str) else i) for i in images]))

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
        if not os.path.isfile(path):
            raise FileNotFoundError(f'no such ONNX file: {path}')
        try:
            self.session = ort.InferenceSession(path, providers=list(providers))
        except Exception as e:  # noqa: BLE001 - ONNX Runtime's own exception types
            raise ValueError(f'{path}: not an ONNX model ONNX Runtime can load '
                             f'({(str(e).splitlines() or [""])[0][:160]})') from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if 'timm_ml' not in meta:
            raise ValueError(f'{path} carries no timm_ml metadata: export it with infer.py --export onnx')
        shape = self.session.get_outputs()[0].shape
        self._setup(_json(meta['timm_ml'], path), shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None,
                    path)

    def _run(self, batch):
        return self.session.run(['scores'], {'input': batch})[0]


class OpenVinoMultiLabelModel(ExportedMultiLabelModel):
    """ A timm_ml OpenVINO IR export (float or INT8), ready to predict with OpenVINO Runtime.

    Args:
        path: The .xml written by `infer.py --export openvino [--int8]`. device: OpenVINO device (default CPU).
        precision: INFERENCE_PRECISION_HINT of the float parts (default f32; None: the device's default).
    """

    def __init__(self, path: str, device: str = 'CPU', precision: str = 'f32'):
        import openvino as ov
        core = ov.Core()
        model = core.read_model(path)
        if not model.has_rt_info(['model_info', 'timm_ml']):
            raise ValueError(f'{path} carries no timm_ml metadata: export it with infer.py --export openvino')
        shape = model.outputs[0].get_partial_shape()
        self._setup(_json(model.get_rt_info(['model_info', 'timm_ml']).astype(str), path),
                    shape[1].get_length() if shape.rank.get_length() == 2 and shape[1].is_static else None, path)
        # f32: a CPU with bf16 units would otherwise run the float model in bf16 by default
        self.compiled = core.compile_model(model, device, {'INFERENCE_PRECISION_HINT': precision} if precision else {})

    def _run(self, batch):
        return self.compiled(batch)[0]


def _json(text: str, source: str) -> dict:
    try:
        return json.loads(text)
    except ValueError as e:
        raise OutsideValueError(f'{source}: its timm_ml metadata is not JSON ({e})') from None


def _read(path: str) -> Image.Image:
    try:
        return decode_image(path)
    except Exception as e:  # noqa: BLE001 - named with the image
        raise ValueError(f'cannot read image {path}: {type(e).__name__}: {e}') from None


def _center_crop_or_pad(img: Image.Image, height: int, width: int, fill) -> Image.Image:
    """torchvision CenterCrop / timm CenterCropOrPad: pad a smaller image (split as they split it), then crop."""
    w, h = img.size
    if width > w or height > h:
        left, top = max(0, (width - w) // 2), max(0, (height - h) // 2)
        padded = Image.new(img.mode, (max(w, width), max(h, height)),
                           fill if img.mode != 'L' or not isinstance(fill, tuple) else fill[0])
        padded.paste(img, (left, top))
        img, (w, h) = padded, padded.size
    left, top = int(round((w - width) / 2.)), int(round((h - height) / 2.))
    return img.crop((left, top, left + width, top + height))


def _schema_of(meta) -> LabelSchema:
    if meta.get('schema'):
        return LabelSchema.from_dict(meta['schema'])
    groups, start = [], 0  # format 1: attribute groups of sizes, in order
    for g in meta.get('attribute_groups') or []:
        size = g['size']
        groups.append(LabelGroup(g['name'], [c.split('=', 1)[-1] for c in meta['classes'][start:start + size]], start))
        start += size
    return LabelSchema(meta['classes'], groups)
