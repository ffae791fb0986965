from .multilabel import MultiLabelTask, build_ml_config, evaluated_split_name, loss_settings
