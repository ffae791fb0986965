""" Label sets for train.py / validate.py: split resolution, class map, shared class order, label-parsing options."""
import logging
from typing import Any, Dict, Optional, Sequence, Tuple

from .partial import simulate_partial
from .reader_factory import read_labels
from .readers import LabelSet, groups_from_class_names, read_class_list

_logger = logging.getLogger(__name__)

LABEL_OPTIONS = ('label_format', 'label_delimiter', 'path_column', 'labels_column', 'unknown_values')


def create_label_set(
        root: str,
        split: str,
        classes: Optional[Sequence[str]] = None,
        attributes=None,
        class_map: Optional[str] = None,
        label_format: Optional[str] = None,
        label_delimiter: Optional[str] = None,
        path_column: Optional[str] = None,
        labels_column: Optional[str] = None,
        unknown_values: Optional[Sequence[str]] = None,
        image_dir: Optional[str] = None,
        on_bad: str = 'error',
) -> LabelSet:
    """ Read one split of a dataset (see reader_factory.read_labels for the layouts).

    Args:
        root: Data folder (timm's positional `data` argument).
        split: Split name (--train-split / --val-split) or a label file path.
        classes, attributes: Class order to enforce (from the training split or a checkpoint).
        class_map: timm's --class-map: a text file with one class name per line, fixing the class order.
        label_format: --label-format (default auto). label_delimiter, path_column, labels_column, unknown_values:
            label-file parsing options. image_dir: --image-dir.
        on_bad: 'error' or 'skip' for malformed rows.
    """
    if root is None:
        raise ValueError('No dataset folder given: pass it as the first argument (or --data-dir).')
    if classes is None and class_map:
        classes = read_class_list(class_map)
    return read_labels(root, split, label_format or 'auto', classes, attributes, label_delimiter, path_column,
                       labels_column, unknown_values or (), image_dir, on_bad)


def label_options(args, saved: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Label-parsing options: the ones given on the command line, else the ones training used (from a checkpoint's
    ml_config), so validate.py / infer.py read a split the way train.py did."""
    saved = saved or {}
    return {k: getattr(args, k, None) if getattr(args, k, None) is not None else saved.get(k) for k in LABEL_OPTIONS}


def create_label_sets(args, log: bool = True) -> Tuple[LabelSet, Optional[LabelSet]]:
    """ train.py's label sets: the train split defines the class order (or --class-map does), val must use it.
    --simulate-partial hides training annotations (seeded by --seed)."""
    root = args.data or args.data_dir
    kwargs = dict(label_options(args), image_dir=getattr(args, 'image_dir', None), on_bad=args.bad_images)
    train = create_label_set(root, args.train_split, class_map=args.class_map, **kwargs)
    val = create_label_set(root, args.val_split, classes=train.classes, attributes=train.attributes or None,
                           **kwargs) if args.val_split else None
    if val is not None and (val.classes != train.classes):
        from timm_ml.utils.checkpoint import class_difference
        raise ValueError(f'{val.source} ({val.format}) does not hold the classes of {train.source} ({train.format}): '
                         f'{class_difference(train.classes, val.classes)}')
    if args.simulate_partial:
        if train.attributes:
            raise ValueError('--simulate-partial hides single class entries; on attribute data (one softmax per '
                             'attribute) that leaves no attribute fully known. Hide annotations in the label file '
                             '(#N/A cells) instead.')
        train.targets = simulate_partial(train.targets, args.simulate_partial, seed=args.seed)
    counts = train.targets.class_counts()
    if counts[0].sum() + counts[1].sum() == 0:
        raise ValueError(f'{train.source}: no known annotation left (every entry is unknown'
                         + (f' after --simulate-partial {args.simulate_partial}' if args.simulate_partial else '')
                         + '): there is nothing to train on.')
    if log:
        for name, labels in (('train', train), ('val', val)):
            if labels is not None:
                _logger.info(f'{name}: {describe_label_set(labels)}')
    return train, val


def describe_label_set(labels: LabelSet) -> str:
    """One line: images, classes, positives per image, unknown rate, attributes."""
    counts = labels.targets.class_counts()
    entries = max(1, len(labels) * labels.num_classes)
    line = (f'{labels.source}: {len(labels)} images, {labels.num_classes} classes, '
            f'{counts[0].sum() / max(1, len(labels)):.2f} positives per image, {100 * counts[2].sum() / entries:.1f}% '
            f'unknown')
    if labels.attributes:
        line += f', attributes {[g.name for g in labels.attributes]}'
    if labels.skipped:
        line += f', {len(labels.skipped)} rows skipped'
    return line


def attributes_of(classes: Sequence[str], group_sizes) -> Optional[list]:
    """Attribute groups of a checkpoint's class list (None for multi-label heads)."""
    return groups_from_class_names(classes) if group_sizes else None
