from .checkpoint_io import (ML_CONFIG_KEY, CheckpointError, MultiLabelCheckpointSaver, load_checkpoint_file,
                            read_ml_config, save_checkpoint_atomic)
from .faults import fault_point
from .lock import LockedError, RunLock
from .outputs import OutputError, check_outputs_are_not_inputs, check_replaceable, own_output_kind
