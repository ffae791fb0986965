""" Pascal VOC: `<root>/ImageSets/Main/<split>.txt` (image ids), `<root>/Annotations/<id>.xml`, `<root>/JPEGImages/`.

A class is positive for an image when it has an object there that is not `difficult`; a class whose only objects in
the image are difficult is unknown (-1), as in VOC's own evaluation; every other class is negative.
"""
import os
import xml.etree.ElementTree as ET

from .readers import LabelFileError, LabelSet, _RowPolicy, open_text
from .targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargetsBuilder


def voc_split_file(root: str, split: str) -> str:
    return os.path.join(root, 'ImageSets', 'Main', f'{split}.txt')


def _objects(xml_path):
    """[(class name, difficult)] of one annotation file."""
    tree = ET.parse(xml_path)
    out = []
    for obj in tree.getroot().iter('object'):
        name = (obj.findtext('name') or '').strip()
        out.append((name, (obj.findtext('difficult') or '0').strip() == '1'))
    filename = (tree.getroot().findtext('filename') or '').strip()
    return out, filename


def read_voc(root: str, split: str, classes=None, on_bad: str = 'error') -> LabelSet:
    """ Args:
        root: The VOC folder (VOC2012/ or VOCdevkit/VOC2007/). split: ImageSets/Main/<split>.txt.
        classes: Fixed class order (else every object name of the split, sorted). on_bad: 'error' or 'skip'.
    """
    split_file = voc_split_file(root, split)
    with open_text(split_file) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    policy = _RowPolicy(split_file, on_bad)
    images = []
    for row, image_id in enumerate(ids, start=1):
        xml_path = os.path.join(root, 'Annotations', f'{image_id}.xml')
        try:
            objects, filename = _objects(xml_path)
        except (OSError, ET.ParseError) as e:
            policy.bad(row, f'{xml_path}: {type(e).__name__}: {e}')
            continue
        images.append((os.path.join('JPEGImages', filename or f'{image_id}.jpg'), objects, row))
    policy.finish()
    if classes is None:
        classes = sorted({name for _, objects, _ in images for name, _ in objects})
    index = {c: i for i, c in enumerate(classes)}
    builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
    paths = []
    for path, objects, row in images:
        easy = {index[n] for n, difficult in objects if not difficult and n in index}
        hard = {index[n] for n, difficult in objects if difficult and n in index} - easy
        unknown_names = sorted({n for n, _ in objects if n not in index})
        if unknown_names:
            policy.bad(row, f'objects {unknown_names} are not in the class list')
            continue
        builder.add(sorted(easy) + sorted(hard), [POSITIVE] * len(easy) + [UNKNOWN] * len(hard))
        paths.append(path)
    if not paths:
        raise LabelFileError(f'{split_file}: no images')
    return LabelSet(list(classes), paths, builder.build(), root, [], policy.skipped, split_file, 'voc')
