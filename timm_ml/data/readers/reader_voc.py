""" Pascal VOC: `<root>/ImageSets/Main/<split>.txt` (image ids), `<root>/Annotations/<id>.xml`, `<root>/JPEGImages/`;
`trainval` is found for the split train when no train.txt exists.

A class is positive for an image when it has an object there that is not `difficult`; a class whose only objects in
the image are difficult is unknown (-1), as in VOC's own evaluation; every other class is negative.
"""
import logging
import os
import xml.etree.ElementTree as ET

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargetsBuilder
from .reader import LabelFileError, LabelOptions, LabelReader, RowPolicy, open_text

_logger = logging.getLogger(__name__)


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


VOC_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.JPG', '.JPEG', '.PNG', '.bmp', '.webp')


def _image_path(root: str, image_id: str, filename: str) -> str:
    """The image of an id is JPEGImages/<id>.jpg, as VOC's devkit builds it; the XML's <filename> is only a hint (copied
    annotation files keep another image's name). When <id>.jpg is absent: the extension of <filename> if its stem is
    the id, else the first JPEGImages/<id>.<ext> on disk (VOC-style sets saved as PNG); else <id>.jpg, reported
    missing like any other image."""
    default = os.path.join('JPEGImages', f'{image_id}.jpg')
    if os.path.isfile(os.path.join(root, default)):
        return default
    stem, ext = os.path.splitext(os.path.basename(filename))
    candidates = ([ext] if stem == image_id and ext else []) + list(VOC_IMAGE_EXTENSIONS)
    for ext in candidates:
        path = os.path.join('JPEGImages', image_id + ext)
        if os.path.isfile(os.path.join(root, path)):
            return path
    return default


def read_voc(root: str, split: str, classes=None, on_bad: str = 'error') -> LabelSet:
    """ Args:
        root: The VOC folder (VOC2012/ or VOCdevkit/VOC2007/). split: ImageSets/Main/<split>.txt.
        classes: Fixed class order (else every object name of the split, sorted). on_bad: 'error' or 'skip'.
    """
    split_file = voc_split_file(root, split)
    if not os.path.isfile(split_file):
        raise LabelFileError(f'{split_file}: no such VOC split file')
    with open_text(split_file) as f:
        ids = [(row, line.split()[0]) for row, line in enumerate(f, start=1) if line.strip()]  # file line numbers
    policy = RowPolicy(split_file, on_bad)
    images, seen, other_names = [], {}, []
    for row, image_id in ids:
        if image_id in seen:
            policy.bad(row, f'duplicate image id {image_id!r} (first at row {seen[image_id]})')
            continue
        seen[image_id] = row
        xml_path = os.path.join(root, 'Annotations', f'{image_id}.xml')
        try:
            objects, filename = _objects(xml_path)
        except (OSError, ET.ParseError) as e:
            policy.bad(row, f'{xml_path}: {type(e).__name__}: {e}')
            continue
        if filename and os.path.splitext(os.path.basename(filename))[0] != image_id:
            other_names.append(f'{image_id}.xml names {filename}')
        images.append((_image_path(root, image_id, filename), objects, row))
    policy.finish()
    if other_names:  # read by id, as the devkit does; a copied, never edited XML would carry another image's labels
        _logger.warning(f'{split_file}: {len(other_names)} annotation files name another image in <filename> (read '
                        f'by their id, as VOC\'s devkit does; check they were not copied unedited), first: '
                        f'{other_names[0]}')
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
    return LabelSet(LabelSchema(list(classes)), paths, builder.build(), root, policy.skipped, split_file, 'voc', split)


class VocReader(LabelReader):
    name = 'voc'
    meanings = 'an object of the class = positive, only `difficult` objects = unknown, none = negative'
    layout = '`Annotations/*.xml`, `ImageSets/Main/<split>.txt`, `JPEGImages/`; a class whose only objects are `difficult` is unknown'
    split_aliases = {'train': ('trainval',)}

    def locate(self, root, split):
        for name in self.split_names(split):
            if os.path.isfile(voc_split_file(root, name)):
                return os.path.join(root, f'ImageSets/Main/{name}.txt')
        return None

    def recognise(self, source, options=None):
        folder = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(source))))
        if source.endswith('.txt') and os.path.basename(os.path.dirname(source)) == 'Main' and \
                os.path.isdir(os.path.join(folder, 'Annotations')):
            return 'an ImageSets/Main split file beside Annotations/'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(source))))
        name = os.path.splitext(os.path.basename(source))[0]
        return read_voc(root, name, options.classes, options.on_bad)
