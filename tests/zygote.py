""" A warm interpreter for the end-to-end tests: it imports torch, timm and timm_ml once, then forks a child per
script run. The child is a real process of its own (its own pid, exit status, signals, SIGKILL by the fault points,
loader workers) started from a state where nothing has run yet, so each run behaves as `python train.py ...` does,
without paying the ~4 s of imports each time (the end-to-end tier starts some 250 scripts).

Protocol (one JSON line each way, on stdin / stdout): {"argv": ["train.py", ...] or ["-m", "mod", ...], "env": {...},
"cwd": "...", "out": path, "err": path} -> {"pid": n}, then {"rc": returncode as subprocess reports it}.
tests.helpers.run_script uses it unless TIMM_ML_TEST_ZYGOTE=0.
"""
import json
import os
import sys


def _warm():
    import matplotlib
    matplotlib.use('Agg')
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import PIL.Image  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401
    import timm  # noqa: F401
    import timm.data  # noqa: F401
    import timm.task  # noqa: F401
    import timm.utils  # noqa: F401
    import timm_ml.data  # noqa: F401
    import timm_ml.deploy  # noqa: F401
    import timm_ml.loss  # noqa: F401
    import timm_ml.metrics  # noqa: F401
    import timm_ml.models  # noqa: F401
    import timm_ml.report  # noqa: F401
    import timm_ml.task  # noqa: F401
    import timm_ml.utils  # noqa: F401


def _child(request):
    """Become the script: fds 0 / 1 / 2, working folder, environment and argv as a fresh `python` would have them."""
    import runpy
    import signal
    import traceback
    import weakref
    for finalizer in list(weakref.finalize._registry):  # the warm interpreter's (e.g. wandb's media temp folder):
        finalizer.atexit = False  # its siblings still need them; only what the child creates is cleaned at its exit
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request['out']), (2, request['err'])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    os.chdir(request['cwd'])
    os.environ.clear()
    os.environ.update(request['env'])
    threads = os.environ.get('OMP_NUM_THREADS')
    if threads and threads.isdigit():
        import torch
        torch.set_num_threads(int(threads))
    argv = request['argv']
    sys.stdin = open(os.devnull)
    unbuffered = bool(os.environ.get('PYTHONUNBUFFERED'))  # as python: stdout block-buffered into a file, stderr by line
    sys.stdout = open(1, 'w', buffering=1 if unbuffered else -1, closefd=False)
    sys.stderr = open(2, 'w', buffering=1, closefd=False)
    import random
    import numpy
    random.seed()  # a fresh interpreter's global generators are seeded from the OS, not shared with its siblings
    numpy.random.seed()
    code = 0
    try:
        if argv[0] == '-m':
            sys.argv = [argv[1]] + argv[2:]
            sys.path[0] = request['cwd']
            runpy.run_module(argv[1], run_name='__main__', alter_sys=True)
        else:
            script = os.path.abspath(argv[0])
            sys.argv = [argv[0]] + argv[1:]
            sys.path[0] = os.path.dirname(script)
            runpy.run_path(script, run_name='__main__')
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT  # python ends an uncaught Ctrl-C by the signal itself
    except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback on stderr, status 1
        traceback.print_exc()
        code = 1
    # what the interpreter does at exit, less the module teardown (2 s with torch loaded): atexit handlers
    # (multiprocessing joins its children, logging flushes), then the streams
    import atexit
    import gc
    import threading
    threading._shutdown()  # non-daemon threads are joined, as at a normal exit
    gc.collect()  # files held only by reference cycles are closed (flushed) as at a normal exit
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def main():
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository, not tests/
    _warm()
    import gc
    gc.freeze()  # the warm modules are never collected: a child's collection scans only what the child made
    reply = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        reply.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns: the child ends with the script's status
        reply.write(json.dumps(dict(pid=pid)) + '\n')
        reply.flush()
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps(dict(rc=os.waitstatus_to_exitcode(status))) + '\n')
        reply.flush()


if __name__ == '__main__':
    main()
