""" COCO: `<root>/annotations/instances_<split>.json`, images in `<root>/<split>/` (file_name).

Classes are the categories in id order (by name); an image's positives are the categories of its annotations; images
without any annotation are all-negative.
"""
import os

from .readers import LabelFileError, LabelSet, _LabelListParser, load_json


def coco_annotation_file(root: str, split: str) -> str:
    return os.path.join(root, 'annotations', f'instances_{split}.json')


def read_coco(path: str, classes=None, on_bad: str = 'error', image_root: str = '') -> LabelSet:
    """ Args:
        path: instances_<split>.json. classes: Fixed class order (else the categories by id).
        on_bad: 'error' or 'skip'. image_root: Folder of the images (default: the JSON's folder).
    """
    data = load_json(path)
    for key in ('images', 'annotations', 'categories'):
        if key not in data:
            raise LabelFileError(f'{path}: not a COCO instances file (no "{key}" key)')
    categories = sorted(data['categories'], key=lambda c: c['id'])
    names = [c['name'] for c in categories]
    if len(set(names)) != len(names):
        raise LabelFileError(f'{path}: duplicate category names {sorted({n for n in names if names.count(n) > 1})}')
    name_of = {c['id']: c['name'] for c in categories}
    labels_of = {}
    for i, ann in enumerate(data['annotations']):
        if ann.get('category_id') not in name_of:
            raise LabelFileError(f'{path}: annotation {i} (id {ann.get("id")}) has unknown category_id '
                                 f'{ann.get("category_id")}')
        labels_of.setdefault(ann['image_id'], []).append(name_of[ann['category_id']])
    parser = _LabelListParser(path, classes if classes is not None else names, on_bad)
    for row, image in enumerate(data['images']):
        parser.add(row, image.get('file_name', ''), labels_of.get(image.get('id'), []))
    label_set = parser.build(image_root or os.path.dirname(path), path)
    label_set.format = 'coco'
    return label_set
