from .checkpoint import (ML_CONFIG_KEY, class_difference, load_checkpoint_file, load_model_from_checkpoint,
                         read_ml_config, save_checkpoint_atomic)
