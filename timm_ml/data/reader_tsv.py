""" TSV: `path<TAB>l1,l2` per line, the class list in label.txt (or labels.txt / classes.txt) beside it."""
import os

from .readers import (CLASS_LIST_FILES, LabelFileError, LabelSet, _LabelListParser, find_class_list, open_text,
                      read_class_list)


def read_tsv(path: str, classes=None, on_bad: str = 'error', label_delimiter=None) -> LabelSet:
    """ Args:
        path: The TSV file. classes: Fixed class order (else the class list file beside it).
        on_bad: 'error' or 'skip'. label_delimiter: Separator inside the labels field (default ',').
    """
    if classes is None:
        class_file = find_class_list(os.path.dirname(path))
        if class_file is None:
            raise LabelFileError(f'{path}: TSV labels need a class list ({" / ".join(CLASS_LIST_FILES)}) beside it')
        classes = read_class_list(class_file)
    delimiter = label_delimiter or ','
    parser = _LabelListParser(path, classes, on_bad)
    with open_text(path) as f:
        for row, line in enumerate(f, start=1):
            line = line.rstrip('\n').rstrip('\r')
            if not line.strip():
                continue
            parts = line.split('\t')
            if len(parts) > 2:
                parser.policy.bad(row, f'expected "path<TAB>labels", got {len(parts)} tab-separated fields')
                continue
            labels = parts[1].split(delimiter) if len(parts) == 2 and parts[1] else []
            parser.add(row, parts[0], labels)
    return parser.build(os.path.dirname(path), path)
