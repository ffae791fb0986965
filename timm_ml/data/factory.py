""" Label sets for train.py / validate.py: split resolution, class map, shared class order."""
from typing import Optional, Sequence

from .readers import LabelSet, read_class_list, read_label_file, resolve_label_file


def create_label_set(
        root: str,
        split: str,
        classes: Optional[Sequence[str]] = None,
        attributes=None,
        class_map: Optional[str] = None,
        label_delimiter: Optional[str] = None,
        path_column: Optional[str] = None,
        labels_column: Optional[str] = None,
        on_bad: str = 'error',
) -> LabelSet:
    """ Read `<root>/<split>.{json,csv,tsv}` (or `split` as a file path).

    Args:
        root: Data folder (timm's positional `data` argument).
        split: Split name (--train-split / --val-split) or a label file path.
        classes, attributes: Class order to enforce (from the training split or a checkpoint).
        class_map: timm's --class-map: a text file with one class name per line, fixing the class order.
        on_bad: 'error' or 'skip' for malformed rows.
    """
    if classes is None and class_map:
        classes = read_class_list(class_map)
    return read_label_file(
        resolve_label_file(root, split), classes=classes, attributes=attributes, label_delimiter=label_delimiter,
        path_column=path_column, labels_column=labels_column, on_bad=on_bad)
