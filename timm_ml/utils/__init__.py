from .checkpoint import (ML_CONFIG_KEY, CheckpointContent, load_checkpoint_file, load_model_from_checkpoint,
                         save_checkpoint_atomic)
