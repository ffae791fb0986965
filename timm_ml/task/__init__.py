from .multilabel import MultiLabelTask, build_ml_config
