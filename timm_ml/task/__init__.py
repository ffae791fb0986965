from .multilabel import MultiLabelTask
