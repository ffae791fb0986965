from .checkpoint_io import (ML_CONFIG_KEY, CheckpointError, MultiLabelCheckpointSaver, load_checkpoint_file,
                            read_ml_config, save_checkpoint_atomic, save_recovery)
from .cli import Interrupted, StopRequest, UserError, run_cli
from .faults import fault_point
from .run_folder import (RunFolder, RunFolderError, RunLock, check_outputs_are_not_inputs, check_replaceable,
                         check_summary_columns, open_run_folder, reconcile_summary, write_epoch_summary)
