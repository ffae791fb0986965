""" COCO: `<root>/annotations/instances_<split>.json`, images in `<root>/<split>/` (file_name); the 2014 / 2017 names
(`instances_train2017.json` + `train2017/`) are found for the splits train / val.

Classes are the categories in id order (by name); an image's positives are the categories of its annotations; images
without any annotation are all-negative.
"""
import os

from ..label_set import LabelSet
from .reader import LabelFileError, LabelListRows, LabelOptions, LabelReader, has_extension, load_json


def coco_annotation_file(root: str, split: str) -> str:
    return os.path.join(root, 'annotations', f'instances_{split}.json')


class CocoReader(LabelReader):
    name = 'coco'
    meanings = "an annotation of the class = positive, none = negative (COCO's instances are exhaustive)"
    layout = '`annotations/instances_<split>.json`, images in `<split>/` (2014 / 2017 names found for train / val)'
    split_aliases = {'train': ('train2017', 'train2014'), 'val': ('val2017', 'val2014'),
                     'validation': ('val', 'val2017', 'val2014'), 'test': ('test2017', 'test2014')}

    def locate(self, root, split):
        for name in self.split_names(split):
            if os.path.isfile(coco_annotation_file(root, name)):
                return coco_annotation_file(root, name)
        return None

    def recognise(self, source, options=None):
        if not has_extension(source, '.json'):
            return None
        data = load_json(source)
        if isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ('images', 'annotations', 'categories')):
            return f'{os.path.basename(source)} holds COCO "images", "annotations" and "categories"'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        data = load_json(source)
        for key in ('images', 'annotations', 'categories'):
            if key not in data:
                raise LabelFileError(f'{source}: not a COCO instances file (no "{key}" key)')
        categories = sorted(data['categories'], key=lambda c: c['id'])
        names = [c['name'] for c in categories]
        if len(set(names)) != len(names):
            raise LabelFileError(f'{source}: duplicate category names {sorted({n for n in names if names.count(n) > 1})}')
        name_of = {c['id']: c['name'] for c in categories}
        labels_of = {}
        image_ids = {}
        for row, image in enumerate(data['images']):
            image_id = image.get('id')
            if not isinstance(image_id, (int, str)) or isinstance(image_id, bool):
                raise LabelFileError(f'{source}: image {row} ({image.get("file_name")!r}) has id {image_id!r}, not an '
                                     'integer or string')
            if image_id in image_ids:
                raise LabelFileError(f'{source}: images {image_ids[image_id]} and {row} share the id {image_id!r}: '
                                     'their annotations could not be told apart')
            image_ids[image_id] = row
        for i, ann in enumerate(data['annotations']):
            image_id = ann.get('image_id')
            if not isinstance(image_id, (int, str)) or isinstance(image_id, bool) or image_id not in image_ids:
                raise LabelFileError(f'{source}: annotation {i} (id {ann.get("id")}) has image_id '
                                     f'{ann.get("image_id")!r}, which no image in "images" has')
            if ann.get('category_id') not in name_of:
                raise LabelFileError(f'{source}: annotation {i} (id {ann.get("id")}) has unknown category_id '
                                     f'{ann.get("category_id")}')
            labels_of.setdefault(ann['image_id'], []).append(name_of[ann['category_id']])
        rows = LabelListRows(source, options.classes if options.classes is not None else names, options.on_bad)
        for row, image in enumerate(data['images']):
            rows.add(row, image.get('file_name', ''), labels_of.get(image.get('id'), []))
        base = os.path.basename(source)
        split_name = base[len('instances_'):-len('.json')] if base.startswith('instances_') else split
        image_root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(source))), split_name)
        return rows.build(image_root, self.name, split_name)
