""" Console scripts (`pip install -e .`): timm-ml-train / -validate / -infer run the repository's fork-style
train.py / validate.py / infer.py from any folder, with the same arguments."""
import os
import runpy
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script: str):
    path = os.path.join(REPO, script)
    if not os.path.isfile(path):
        sys.exit(f'error: {script} is not beside the timm_ml package ({REPO}): the console scripts run the '
                 'repository\'s scripts, so install with `pip install -e .` from a clone')
    sys.argv[0] = path
    sys.path.insert(0, REPO)
    runpy.run_path(path, run_name='__main__')


def train():
    _run('train.py')


def validate():
    _run('validate.py')


def infer():
    _run('infer.py')
