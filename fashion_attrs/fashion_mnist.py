""" Fashion-MNIST (MIT) images and labels.

Reads the IDX files from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package) or another
folder; without them, falls back to torchvision's FashionMNIST download (needs network).
"""
import gzip
import os
from typing import Optional, Tuple

import numpy as np

DEFAULT_ROOTS = ('/usr/share/datasets/fashion-mnist',)
CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def _read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    magic = int.from_bytes(data[:4], 'big')
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f'{path}: not an unsigned-byte IDX file (magic {magic:#x})')
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f'{path}: truncated IDX file ({array.size} of {int(np.prod(shape))} values)')
    return array.reshape(shape)


def _find(root: str, name: str) -> Optional[str]:
    for candidate in (name + '.gz', name):
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_fashion_mnist(split: str = 'train', root: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of the 'train' (60k) or 'test' (10k) split."""
    image_name, label_name = _FILES[split]
    for r in ([root] if root else []) + list(DEFAULT_ROOTS):
        images, labels = _find(r, image_name), _find(r, label_name)
        if images and labels:
            return _read_idx(images), _read_idx(labels).astype(np.int64)
    import torchvision  # real download path when the Debian package is not installed
    download_root = root or os.path.expanduser('~/.cache/fashion-mnist')
    ds = torchvision.datasets.FashionMNIST(download_root, train=split == 'train', download=True)
    return ds.data.numpy(), ds.targets.numpy().astype(np.int64)
