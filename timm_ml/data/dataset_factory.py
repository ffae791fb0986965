""" create_ml_dataset: the dataset of a split, a folder's images or a streamed source's reader."""
from typing import Optional

from .dataset import MultiLabelDataset
from .streams import create_stream_dataset


def create_ml_dataset(labels, is_training: bool, input_img_mode: str = 'RGB', bad_images: str = 'error',
                      verify_images: Optional[str] = None, repeats: float = 0., seed: Optional[int] = None,
                      batch_size: int = 1, shuffle_buffer: Optional[int] = None):
    """ The dataset of a split: a LabelSet's images (MultiLabelDataset), or a streamed source's reader (wds/).

    Args:
        labels: What read_split returned. is_training: Augmentation seeding, repeats and stream shuffling apply.
        input_img_mode: PIL mode. bad_images / verify_images: --bad-images / --verify-images.
        repeats: timm's --epoch-repeats (training only). seed: Augmentation seed (training only).
        batch_size: The loader batch size (streams plan their epoch by batches).
        shuffle_buffer: Streams: the training shuffle buffer (None: the stream default).
    """
    if getattr(labels, 'streamed', False):
        return create_stream_dataset(labels, is_training, batch_size, seed or 0, input_img_mode, shuffle_buffer)
    return MultiLabelDataset(labels, bad_images=bad_images, img_mode=input_img_mode,
                             repeats=repeats if is_training else 0., verify=verify_images,
                             seed=seed if is_training else None)
