""" Predictions from a timm_ml ONNX export with ONNX Runtime, numpy and Pillow alone (no torch, no timm).

    python -m timm_ml.deploy.onnx_predict model.onnx image.jpg [more images ...] [--threshold 0.5]

The file's metadata ('timm_ml') gives the classes, per-class thresholds, attribute groups and preprocessing; the
preprocessing below repeats timm's evaluation transform (resize the short side to size / crop_pct, centre crop,
scale to [0, 1], normalise), so the scores equal infer.py's.
"""
import argparse
import json
import math

import numpy as np
from PIL import Image

FILTERS = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC, 'nearest': Image.NEAREST,
           'lanczos': Image.LANCZOS, 'hamming': Image.HAMMING, 'box': Image.BOX}


class OnnxMultiLabelModel:
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
        self.meta = json.loads(meta['timm_ml'])
        self.classes = self.meta['classes']
        self.groups = self.meta.get('attribute_groups')
        thresholds = self.meta.get('thresholds')
        self.thresholds = np.asarray(thresholds if thresholds is not None else
                                     [self.meta.get('default_threshold', 0.5)] * len(self.classes), np.float32)

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """(C, H, W) float32 input of one image, as timm's evaluation transform makes it."""
        p = self.meta['preprocessing']
        chans, height, width = p['input_size']
        img = img.convert('RGB' if chans == 3 else 'L')
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
        batch = np.stack([self.preprocess(Image.open(i) if isinstance(i, str) else i) for i in images])
        return self.session.run(['scores'], {'input': batch})[0]

    def predict(self, images, threshold=None):
        """Per image: the predicted class names (per attribute: its argmax value) and the scores."""
        scores = self.scores(images)
        out = []
        for s in scores:
            if self.groups:
                labels, start = [], 0
                for g in self.groups:
                    labels.append(self.classes[start + int(np.argmax(s[start:start + g['size']]))])
                    start += g['size']
            else:
                cut = self.thresholds if threshold is None else np.full_like(self.thresholds, threshold)
                labels = [c for c, v, t in zip(self.classes, s, cut) if v >= t]
            out.append(dict(labels=labels, scores=dict(zip(self.classes, map(float, s)))))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--threshold', type=float, default=None)
    args = parser.parse_args()
    model = OnnxMultiLabelModel(args.model)
    for path, pred in zip(args.images, model.predict(args.images, args.threshold)):
        print(json.dumps(dict(path=path, labels=pred['labels'])))


if __name__ == '__main__':
    main()
