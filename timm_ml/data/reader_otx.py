""" OTX / deep-object-reid JSON: {"classes": [...], "images": [["rel/path.jpg", ["dog", "person"]], ...]}."""
import os

from .readers import LabelFileError, LabelSet, _LabelListParser, load_json


def read_otx(path: str, classes=None, on_bad: str = 'error') -> LabelSet:
    """ Args:
        path: The JSON file; image paths are relative to its folder.
        classes: Fixed class order (else the file's "classes" list).
        on_bad: 'error' or 'skip' for malformed rows.
    """
    data = load_json(path)
    if not isinstance(data, dict) or 'images' not in data:
        raise LabelFileError(f'{path}: expected an object with "classes" and "images" keys')
    file_classes = data.get('classes')
    if classes is None:
        if not isinstance(file_classes, list) or not file_classes:
            raise LabelFileError(f'{path}: "classes" must be a non-empty list')
        file_classes = [c.strip() if isinstance(c, str) else c for c in file_classes]  # labels are stripped too
        if len(set(file_classes)) != len(file_classes):
            raise LabelFileError(f'{path}: duplicate names in "classes"')
        classes = file_classes
    parser = _LabelListParser(path, classes, on_bad)
    for row, item in enumerate(data['images']):
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], (list, tuple)):
            parser.policy.bad(row, f'expected ["path", [labels...]], got {str(item)[:80]}')
            continue
        parser.add(row, item[0], item[1])
    return parser.build(os.path.dirname(path), path)
