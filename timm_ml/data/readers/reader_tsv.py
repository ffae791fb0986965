""" TSV: `<split>.tsv` with `path<TAB>l1,l2` per line, the class list in label.txt (or labels.txt / classes.txt) beside
it."""
import os

from ..label_set import LabelSet
from .reader import (CLASS_LIST_FILES, LabelFileError, LabelListRows, LabelOptions, LabelReader, find_class_list,
                     has_extension, open_text, read_class_list, split_file)


class TsvReader(LabelReader):
    name = 'tsv'
    meanings = 'a listed label = positive, an unlisted one = negative'
    layout = '`<split>.tsv`: `path<TAB>l1,l2`, class list in `label.txt` beside it'

    def locate(self, root, split):
        return split_file(root, split, ('.tsv',))

    def recognise(self, source, options=None):
        if has_extension(source, '.tsv'):
            return 'tab-separated file'
        if has_extension(source, '.txt') and find_class_list(os.path.dirname(source)) not in (None, source):
            with open_text(source) as f:
                first = next((line for line in f if line.strip()), '')
            if '\t' in first:
                return 'tab-separated lines with a class list beside them'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        classes = options.classes
        if classes is None:
            class_file = find_class_list(os.path.dirname(source))
            if class_file is None:
                raise LabelFileError(f'{source}: TSV labels need a class list ({" / ".join(CLASS_LIST_FILES)}) beside it')
            classes = read_class_list(class_file)
        delimiter = options.label_delimiter or ','
        rows = LabelListRows(source, classes, options.on_bad)
        with open_text(source) as f:
            for row, line in enumerate(f, start=1):
                line = line.rstrip('\n').rstrip('\r')
                if not line.strip():
                    continue
                parts = line.split('\t')
                if len(parts) > 2:
                    rows.policy.bad(row, f'expected "path<TAB>labels", got {len(parts)} tab-separated fields')
                    continue
                labels = parts[1].split(delimiter) if len(parts) == 2 and parts[1] else []
                rows.add(row, parts[0], labels)
        return rows.build(os.path.dirname(source), self.name, split)
