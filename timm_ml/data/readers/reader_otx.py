""" OTX / deep-object-reid JSON: `<split>.json` = {"classes": [...], "images": [["rel/path.jpg", ["dog", "person"]], ...]}.
"""
import os

from ..label_set import LabelSet
from .reader import LabelFileError, LabelListRows, LabelOptions, LabelReader, has_extension, load_json, split_file


class OtxReader(LabelReader):
    name = 'otx'
    meanings = 'a listed class = positive, the other classes = negative'
    layout = '`<split>.json`: `{"classes": [...], "images": [["img/a.jpg", ["dog"]], ...]}`'

    def locate(self, root, split):
        return split_file(root, split, ('.json',))

    def recognise(self, source, options=None):
        if not has_extension(source, '.json'):
            return None
        data = load_json(source)
        if isinstance(data, dict) and isinstance(data.get('images'), list) and isinstance(data.get('classes'), list):
            return f'{os.path.basename(source)} holds "classes" and "images" lists'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        data = load_json(source)
        if not isinstance(data, dict) or 'images' not in data:
            raise LabelFileError(f'{source}: expected an object with "classes" and "images" keys')
        classes = options.classes
        file_classes = data.get('classes')
        if classes is None or file_classes is not None:
            if not isinstance(file_classes, list) or not file_classes:
                raise LabelFileError(f'{source}: "classes" must be a non-empty list')
            file_classes = [c.strip() if isinstance(c, str) else c for c in file_classes]  # labels are stripped too
            if len(set(file_classes)) != len(file_classes):
                raise LabelFileError(f'{source}: duplicate names in "classes"')
            if not all(isinstance(c, str) and c for c in file_classes):
                raise LabelFileError(f'{source}: every entry of "classes" must be a non-empty string')
        if classes is None:
            classes = file_classes
        elif file_classes is not None and set(file_classes) != set(classes):
            # a class the file does not declare was not annotated there: reading it as absent would be a guess
            missing = [c for c in classes if c not in set(file_classes)]
            extra = [c for c in file_classes if c not in set(classes)]
            raise LabelFileError(
                f'{source}: its "classes" differ from the classes it must hold (the training split / checkpoint): '
                + (f'not declared here {missing[:5]}' if missing else '') + ('; ' if missing and extra else '')
                + (f'declared only here {extra[:5]}' if extra else '') + '. Its images say nothing about a class it '
                'does not declare; annotate the same classes in every split.')
        rows = LabelListRows(source, classes, options.on_bad)
        for row, item in enumerate(data['images']):
            if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], (list, tuple)):
                rows.policy.bad(row, f'expected ["path", [labels...]], got {str(item)[:80]}')
                continue
            rows.add(row, item[0], item[1])
        return rows.build(os.path.dirname(source), self.name, split)
