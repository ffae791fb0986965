""" The one output writer: every file a command writes goes through `write_file` (or `replace_folder` for a folder).

- whole or not at all: a temp file beside the target (created exclusively), then renamed over it; the earlier good
  output stays until the new one is complete;
- never through a symlink, and never over a file the tools did not write: an existing target must be an earlier output
  of one of the kinds the caller names (own_output_kind), or the caller owns the folder (the locked run folder);
- a target that cannot be written (a read-only folder, a file-size limit, a full disk) is one OutputError naming the
  path and the reason, checked before the work where it can be (check_writable).
"""
import errno
import json
import os
import resource
import shutil
import tempfile
from typing import Callable, Optional, Sequence

from .outputs import GENERATOR, OutputError, own_output_kind

# own_output_kind() values an output may replace when the caller names them
ANY_OWN = ('results', 'per-class', 'predictions', 'onnx', 'openvino', 'openvino-weights', 'report', 'hf-folder',
           'shards', 'thresholds', 'prior', 'plot', 'int8-comparison', 'features', 'checkpoint')


MANIFEST = '.timm_ml_files.json'  # the files a folder output holds, written with it: what a rewrite may replace
_DISK_WORDS = ('No space left on device', 'Disk quota exceeded', 'File too large')


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _open_to_umask(path: str, folder: bool = False):
    """mkstemp / mkdtemp make 0600 / 0700; an output gets the modes a plain open() / mkdir() would (the umask's)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def _disk_reason(e: BaseException) -> Optional[str]:
    """A third-party writer's error (safetensors, onnx) that is a full disk or a size limit, as a reason."""
    text = str(e)
    return next((w for w in _DISK_WORDS if w in text), None)


def _files(folder: str) -> set:
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files}


def _reason(e: OSError, path: str) -> str:
    if e.errno == errno.EFBIG or (e.errno is None and _over_size_limit(path)):
        return 'the file-size limit (ulimit -f) was reached'
    if e.errno == errno.ENOSPC:
        return 'no space left on the device'
    if e.errno in (errno.EROFS,):
        return 'the file system is read-only'
    if e.errno in (errno.EACCES, errno.EPERM):
        return 'permission denied'
    return e.strerror or str(e)


def _over_size_limit(path: str) -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        return soft != resource.RLIM_INFINITY and os.path.getsize(path) >= soft
    except OSError:
        return False


def size_limit_reached(path: str) -> bool:
    """Whether a partial file stopped at the process's file-size limit (torch's zip writer reports it as a short
    write, like a full disk)."""
    return _over_size_limit(path)


def check_writable(path: str, flag: str = 'output', kinds: Optional[Sequence[str]] = ()):
    """ Before the work: `path` can be written as an output. Refused: a symlink (even to a file of ours); an existing
    file that is not an earlier output of `kinds` (kinds None: the caller owns the folder, any regular file of it may
    be replaced); a missing or read-only folder.

    Args:
        path: The output file. flag: How the user named it (for the message). kinds: own_output_kind() values it may
            replace, or None.
    """
    if os.path.islink(path):
        raise OutputError(f'{flag} {path}: that is a symbolic link; the tools never write through one (it could point '
                          'at any file). Name the file itself.')
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise OutputError(f'{flag} {path}: that is a folder or a special file, not a file to write')
        if kinds is not None and os.path.getsize(path):
            kind = own_output_kind(path)
            if kind not in kinds:
                what = f'it holds {kind} of ours' if kind else \
                    'it is not a file of ours (a label file, a checkpoint or a file of yours)'
                raise OutputError(f'{flag} {path}: that file exists and {what}; writing it would destroy it. Name a new '
                                  'file, or remove this one first.')
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f'{flag} {path}: folder {folder} does not exist')
    if not os.access(folder, os.W_OK):
        raise OutputError(f'{flag} {path}: folder {folder} is not writable (read-only or not yours)')


def write_file(path: str, write: Callable[[str], None], flag: str = 'output',
               kinds: Optional[Sequence[str]] = ()) -> str:
    """ Write `path` whole through `write(tmp_path)`, which writes the complete file at tmp_path (any writer: open(),
    torch.save, savefig, onnx.save ...). Returns `path`.

    Args:
        path: The output. write: Fills the temp file. flag / kinds: as check_writable.
    """
    check_writable(path, flag, kinds)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=folder)
    os.close(fd)
    try:
        write(tmp)
        if os.path.islink(path):  # planted while the file was written
            raise OutputError(f'{flag} {path}: became a symbolic link while it was written; not replaced')
        _open_to_umask(tmp)
        os.replace(tmp, path)
    except OSError as e:
        reason = _reason(e, tmp)
        _remove(tmp)
        raise OutputError(f'{flag} {path}: not written, {reason}; the earlier file (if any) is intact') from e
    except BaseException as e:
        limited = size_limit_reached(tmp)
        disk = _disk_reason(e)
        _remove(tmp)
        if limited or disk:
            raise OutputError(f'{flag} {path}: not written, {"the file-size limit (ulimit -f) was reached" if limited else disk}; '
                              'the earlier file (if any) is intact') from e
        raise
    return path


def write_text(path: str, text: str, flag: str = 'output', kinds: Optional[Sequence[str]] = (),
               encoding: str = 'utf-8') -> str:
    def write(tmp):
        with open(tmp, 'w', encoding=encoding, newline='') as f:
            f.write(text)
    return write_file(path, write, flag, kinds)


def write_bytes(path: str, data: bytes, flag: str = 'output', kinds: Optional[Sequence[str]] = ()) -> str:
    def write(tmp):
        with open(tmp, 'wb') as f:
            f.write(data)
    return write_file(path, write, flag, kinds)


def replace_folder(path: str, build: Callable[[str], None], flag: str = 'output',
                   kinds: Optional[Sequence[str]] = ('report', 'hf-folder', 'shards')) -> str:
    """ Write the folder `path` whole: `build(tmp_folder)` fills a new folder beside it, which then takes its place;
    an existing folder is replaced only when it is an earlier output of `kinds` (own_output_kind) holding nothing but
    the files its manifest lists (a file a user put there since is never deleted), never through a symlink.

    Args:
        path: The output folder. build: Fills the temp folder. flag / kinds: as check_writable.
    """
    if os.path.islink(path):
        raise OutputError(f'{flag} {path}: that is a symbolic link; the tools never write through one')
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise OutputError(f'{flag} {path}: that is a file, not a folder')
        if os.listdir(path) and own_output_kind(path) not in kinds:
            raise OutputError(f'{flag} {path}: that folder exists and is not an output of ours; writing it would '
                              'destroy what it holds. Name a new folder, or remove this one first.')
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise OutputError(f'{flag} {path}: folder {parent} does not exist or is not writable')
    tmp = tempfile.mkdtemp(prefix='.' + os.path.basename(os.path.abspath(path)) + '.', suffix='.tmp', dir=parent)
    old = None
    try:
        build(tmp)
        built = _files(tmp)
        with open(os.path.join(tmp, MANIFEST), 'w') as f:
            json.dump(dict(writer=GENERATOR, files=sorted(built)), f)
        if os.path.isdir(path) and os.listdir(path):
            foreign = sorted(_files(path) - _listed(path, built) - {MANIFEST})
            if foreign:
                raise OutputError(f'{flag} {path}: it holds files this output did not write ({", ".join(foreign[:5])}'
                                  f'{"..." if len(foreign) > 5 else ""}); replacing the folder would delete them. Move '
                                  'them out, or name a new folder.')
        _open_to_umask(tmp, folder=True)
        if os.path.exists(path):
            old = tmp + '.old'
            os.rename(path, old)
        os.rename(tmp, path)
    except OSError as e:
        if old and not os.path.exists(path):
            os.rename(old, path)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f'{flag} {path}: not written, {_reason(e, tmp)}; the earlier folder (if any) is intact') from e
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        disk = _disk_reason(e)
        if disk:
            raise OutputError(f'{flag} {path}: not written, {disk}; the earlier folder (if any) is intact') from e
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)
    return path


def _listed(folder: str, built: set) -> set:
    """The files an earlier folder output of ours lists in its manifest; without one (written before manifests), the
    names this build writes too."""
    try:
        with open(os.path.join(folder, MANIFEST)) as f:
            manifest = json.load(f)
        return set(manifest['files']) if manifest.get('writer') == GENERATOR else set()
    except (OSError, ValueError, KeyError, TypeError):
        return set(built)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
