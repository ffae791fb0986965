""" The top layer: what the scripts call (command lines into configs, the train.py hooks, the run folder, how a
script ends). Nothing below imports it."""
from . import train_script, validate_script
from .errors import Interrupted, StopRequest, UserError, run_cli
