from .reader import (CLASS_LIST_FILES, LABEL_EXTENSIONS, LABEL_LIST_COLUMNS, PATH_COLUMNS, UNKNOWN_VALUES,
                     LabelFileError, LabelOptions, LabelReader, is_unknown, normalize_path, read_class_list)
from .reader_factory import (create_label_reader, label_formats, read_label_set, register_label_reader, seeded_split,
                             split_of)
