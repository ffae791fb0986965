""" One writer per folder: an exclusive lock held for the life of the process."""
import fcntl
import os
import socket

LOCK_FILE = '.lock'


class LockedError(ValueError):
    """A folder another process is writing."""


class RunLock:
    """ An exclusive lock on a run folder held for the life of the process (fcntl.flock on <folder>/.lock): a second
    train.py writing the same folder is refused, naming the holder; the kernel drops the lock of a dead process, so a
    stale lock file is simply taken over.

    Args:
        folder: The run folder.
        tool: The writer named in the lock file.
        advice: What the refusal tells the second writer to do.
    """

    def __init__(self, folder: str, tool: str = 'train.py',
                 advice: str = 'two runs must not write one run folder (wait for it to end, or give this run another '
                               '--experiment)'):
        self.path = os.path.join(folder, LOCK_FILE)
        try:  # never through a symlink: a planted .lock must not make the lock write to its target
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise LockedError(f'{self.path}: cannot be used as the lock ({e.strerror}; a symlink is never followed): '
                              f'remove it or choose another folder') from None
        self.file = os.fdopen(fd, 'a+')
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or 'another process'
            self.file.close()
            raise LockedError(f'{folder} is being written by {holder}: {advice}') from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f'{tool} pid {os.getpid()} on {socket.gethostname()}\n')
        self.file.flush()

    def release(self):
        if not self.file.closed:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()
