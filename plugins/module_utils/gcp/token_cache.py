# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A short-lived access-token cache shared by the module processes of one user.

Every GCP task runs in its own process; without a cache each one builds credentials and makes
its own token exchange (for external_account: AWS signing, STS, generateAccessToken).  Tokens
are kept in one per-user directory that nobody else can read:

* the directory is created 0700 and refused (no cache, a warning) when it is a symlink, is not
  owned by the current user or is open to group or others; every file operation goes through a
  descriptor of the checked directory, so the path cannot be swapped afterwards;
* entries are written 0600 to a fresh file (O_CREAT|O_EXCL|O_NOFOLLOW) and renamed into place;
* an entry is named by the sha256 of the identity (never the token) and holds the token and its
  expiry; it is used only while at least ``MARGIN_SECONDS`` remain;
* concurrent processes that miss serialize on a per-entry lock, so only the first one exchanges.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time

try:
    import fcntl
    HAS_FCNTL = True
except ImportError:  # pragma: no cover - not POSIX
    HAS_FCNTL = False

# google-auth refreshes a token 3 min 45 s before its expiry (google.auth._helpers.REFRESH_THRESHOLD);
# a cached token must outlive that by a margin, so that no consumer sees it as stale mid-task.
MARGIN_SECONDS = 300
DIR_NAME = "keyless.wif-tokens"
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.05
# Entries older than the longest token lifetime Google grants (12 h) can only be expired.
STALE_SECONDS = 12 * 3600
MAX_PRUNE = 1000
FORMAT = 1


class CacheRefused(Exception):
    """The cache directory is not safe to use; the message says why."""


def default_directory(environ=None):
    """$XDG_RUNTIME_DIR/keyless.wif-tokens when that per-user runtime directory exists, else ~/.ansible/tmp/..."""
    environ = os.environ if environ is None else environ
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return os.path.join(runtime, DIR_NAME)
    return os.path.join(os.path.expanduser("~"), ".ansible", "tmp", DIR_NAME)


def _private(st, what):
    """Raise CacheRefused unless ``st`` belongs to this user and is closed to group and others."""
    if st.st_uid != os.geteuid():
        raise CacheRefused("%s is owned by uid %d, not by the current user (uid %d)" % (what, st.st_uid, os.geteuid()))
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise CacheRefused("%s has mode %04o; it must be 0700 or narrower" % (what, stat.S_IMODE(st.st_mode)))


class TokenCache:
    """Token entries in one checked directory (see the module docstring for the rules)."""

    def __init__(self, directory, clock=time.time, sleep=time.sleep):
        self.directory = directory
        self.clock = clock
        self.sleep = sleep
        self._fd = self._open_directory(directory)

    @staticmethod
    def _open_directory(directory):
        # os.replace shares os.rename's renameat support (only os.rename is listed in supports_dir_fd).
        if not HAS_FCNTL or os.open not in os.supports_dir_fd or os.rename not in os.supports_dir_fd:
            raise CacheRefused("this platform cannot open files relative to a directory descriptor")
        if not os.path.isabs(directory):
            raise CacheRefused("token cache directory %r is not an absolute path" % directory)
        parent = os.path.dirname(directory)
        try:
            os.makedirs(parent, mode=0o700, exist_ok=True)
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise CacheRefused("cannot create %s: %s" % (directory, exc.strerror or exc)) from None
        try:
            st = os.lstat(directory)
        except OSError as exc:
            raise CacheRefused("cannot read %s: %s" % (directory, exc.strerror or exc)) from None
        if stat.S_ISLNK(st.st_mode):
            raise CacheRefused("%s is a symlink" % directory)
        if not stat.S_ISDIR(st.st_mode):
            raise CacheRefused("%s is not a directory" % directory)
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise CacheRefused("cannot open %s: %s" % (directory, exc.strerror or exc)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISDIR(st.st_mode):
                raise CacheRefused("%s is not a directory" % directory)
            _private(st, directory)
        except CacheRefused:
            os.close(fd)
            raise
        return fd

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def entry_name(key):
        return "%s.json" % key

    def get(self, key):
        """(token, expiry) of the entry for ``key`` while at least MARGIN_SECONDS remain, else None."""
        try:
            fd = os.open(self.entry_name(key), os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self._fd)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            try:
                _private(st, "token cache entry")
            except CacheRefused:
                return None
            with os.fdopen(fd, "r", closefd=False) as handle:
                entry = json.loads(handle.read(65536))
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return None
        token, expiry = entry.get("token"), entry.get("expiry")
        if not isinstance(token, str) or not token or not isinstance(expiry, (int, float)):
            return None
        if expiry - self.clock() < MARGIN_SECONDS:
            return None
        return token, float(expiry)

    def put(self, key, token, expiry):
        """Store the entry atomically (0600, never through a link); errors leave no entry."""
        temporary = ".%s.%d.%s.tmp" % (key, os.getpid(), os.urandom(8).hex())
        data = json.dumps({"format": FORMAT, "token": token, "expiry": expiry}).encode("utf-8")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self._fd)
        except OSError:
            return False
        try:
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(temporary, self.entry_name(key), src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except OSError:
            self._unlink(temporary)
            return False
        self._prune()
        return True

    def drop(self, key):
        self._unlink(self.entry_name(key))

    def _unlink(self, name):
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=self._fd)

    def _prune(self):
        """Remove entries (and left-over temporary files) older than any token can live."""
        now = self.clock()
        try:
            names = os.listdir(self._fd)[:MAX_PRUNE]
        except OSError:
            return
        for name in names:
            if not (name.endswith(".json") or name.endswith(".tmp") or name.endswith(".lock")):
                continue
            try:
                st = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
            except OSError:
                continue
            if now - st.st_mtime > STALE_SECONDS:
                self._unlink(name)

    def lock(self, key):
        """A per-entry lock held while one process exchanges; others wait for it (bounded)."""
        return _EntryLock(self, key)


class _EntryLock:
    def __init__(self, cache, key):
        self.cache = cache
        self.name = "%s.lock" % key
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=self.cache._fd)
        except OSError:
            return self
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError:
                if time.monotonic() >= deadline:
                    # A stuck holder must not stop the task: go on without the lock.
                    os.close(self.fd)
                    self.fd = None
                    return self
                self.cache.sleep(LOCK_POLL_SECONDS)

    def __exit__(self, *exc_info):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
        return False


def open_cache(directory, warn):
    """The TokenCache of ``directory`` (default: default_directory()), or None after a warning."""
    directory = directory or default_directory()
    try:
        return TokenCache(os.path.abspath(os.path.expanduser(directory)))
    except CacheRefused as exc:
        warn("token cache not used (each task exchanges its own token): %s" % exc)
        return None
