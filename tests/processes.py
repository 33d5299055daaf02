"""Real processes for the end-to-end, reliability and security tests: Celery
worker nodes wired to the test database, the configured broker and the AC
sandbox through the environment, private Redis and PostgreSQL servers, a TCP
proxy, and waiting for any of them. The `worker` fixture (tests/conftest.py)
starts one worker with beat."""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
# CI-sized sweep ages for the `worker` fixture, so stranded rows are found in seconds.
E2E_ENV = {
    "CRM_SYNC_SWEEP_INTERVAL": 1,
    "CRM_SYNC_QUEUED_SWEEP_AFTER": 3,
    "CRM_SYNC_REDISPATCH_AFTER": 10,
}


def wait_for(predicate, timeout, interval=0.2):
    """Poll `predicate` until it returns something true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def test_database_url():
    """A DATABASE_URL for the database the tests are using right now."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def purge_broker():
    """Start from an empty queue: messages left by an earlier run would point at rows that no longer exist."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
    elif url.startswith("filesystem"):
        for key in ("data_folder_in", "processed_folder"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
    elif url.startswith("amqp"):
        from badgemaker.celery import app

        app.control.purge()  # every queue in CELERY_TASK_QUEUES


class Worker:
    """`celery -A badgemaker worker` in a subprocess, its output in a log file."""

    def __init__(self, log_dir, env, concurrency=2, beat=False, name=None):
        self.name = name or f"e2e-{uuid.uuid4().hex[:6]}"
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.env = env
        self.command = [
            sys.executable, "-m", "celery", "-A", "badgemaker", "worker", "--loglevel=INFO",
            f"--concurrency={concurrency}", "--pool=prefork", "--without-gossip", "--without-mingle",
            "-n", f"{self.name}@%h",
        ]
        if beat:
            self.command += ["--beat", "--schedule", str(Path(log_dir) / f"{self.name}-beat")]
        self.process = None
        self._ready_seen = 0  # a restarted node appends to the same log

    def start(self, timeout=60):
        return self.launch().wait_ready(timeout)

    def launch(self):
        """Start the process without waiting (start several nodes, then wait for each)."""
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.output()[-3000:]}")
            if self.output().count(" ready.") > self._ready_seen:
                self._ready_seen += 1
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()[-3000:]}")

    def output(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pool_pids(self):
        """The node's pool processes (children of its main process)."""
        return children(self.process.pid) if self.process and self.process.poll() is None else []

    def kill(self):
        """SIGKILL the whole node (main process and pool), as the OOM killer or a lost VM would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def warm_shutdown(self, timeout=60):
        """SIGTERM, as every deploy does: finish the tasks in flight, then exit. Returns the seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        return time.monotonic() - started

    def stop(self, timeout=20):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self._log.close()


def worker_env(sandbox, **extra):
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ACTIVECAMPAIGN_URL": sandbox.url,
        "ACTIVECAMPAIGN_API_KEY": sandbox.api_key,
        "BADGEMAKER_PUBLIC_URL": "http://127.0.0.1:8000",
        "CRM_SYNC_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env


# -- more than one worker node, and killing them ------------------------------
def children(pid):
    """The direct children of a process (a worker node's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def connections_to(pid, port):
    """How many TCP connections process `pid` holds open to 127.0.0.1:`port`
    (read from /proc: the process's socket inodes matched with the kernel's
    connection table)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return 0
    wanted = f"{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            remote, state, inode = parts[2], parts[3], parts[9]
            if inode in inodes and remote.rsplit(":", 1)[1] == wanted and state == "01":  # ESTABLISHED
                count += 1
    return count




# -- private services, restartable without touching the machine's own ---------
def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=20):
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class RedisServer:
    """A throwaway `redis-server` on a free port: no persistence, nothing shared."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class PostgresServer:
    """A private PostgreSQL cluster in `data_dir` on a free port, run as the
    `postgres` system user (the server refuses to run as root), so a test can
    restart it without touching the machine's shared server."""

    def __init__(self, data_dir, port=None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = bins[-1]

    def url(self, name="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _as_postgres(self, *command, check=True):
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True)
        if check and done.returncode:
            log = self.data_dir / "server.log"
            raise RuntimeError(f"{Path(str(command[0])).name} failed ({done.returncode}): {done.stdout}{done.stderr}\n"
                               + (log.read_text()[-2000:] if log.exists() else ""))
        return done

    def start(self):
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.data_dir, "postgres", "postgres")
                # runuser must be able to reach the directory.
                for parent in self.data_dir.parents:
                    if str(parent).startswith(("/tmp/", "/var/tmp/")) or parent == Path("/tmp"):
                        parent.chmod(parent.stat().st_mode | 0o011)
            self._as_postgres(self.bin / "initdb", "-D", self.data_dir, "-U", "postgres", "--auth=trust",
                              "--no-sync", "-E", "UTF8")
        self._pg_ctl("start")
        return self

    def _pg_ctl(self, action, *extra):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        return self._as_postgres(self.bin / "pg_ctl", action, "-D", self.data_dir, "-w", "-t", "30",
                                 "-o", options, "-l", self.data_dir / "server.log", *extra)

    def restart(self):
        """Fast restart: every open connection is cut, as a failover or an OOM kill would."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self):
        self._as_postgres(self.bin / "pg_ctl", "stop", "-D", self.data_dir, "-m", "immediate", "-w", check=False)

    def create_database(self, name):
        self._as_postgres(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", name)
        return self.url(name)


class TcpProxy:
    """A TCP proxy to 127.0.0.1:`target_port` that can fail on demand.

    Modes: "pass" forwards; "refuse" closes the listening socket and every
    open connection (connections are refused); "stall" accepts and reads but
    never forwards nor answers, on new and already open connections alike (a
    broker behind a dead NAT or a hung VM).
    """

    def __init__(self, target_port, port=None):
        import threading

        self.target_port = target_port
        self.port = port or free_port()
        self.mode = "pass"
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = None
        self._stopped = False

    def url(self, scheme="redis", path="/0"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def start(self):
        self._listen()
        return self

    def _listen(self):
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._sockets.add(client)
            upstream = None
            if self.mode == "pass":
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                    upstream.settimeout(None)
                    with self._lock:
                        self._sockets.add(upstream)
                except OSError:
                    client.close()
                    continue
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source, destination):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.mode != "pass" or destination is None:
                    continue  # stalled: swallow, never answer
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, destination):
                if sock is not None and self.mode != "stall":
                    self._close(sock)

    def _close(self, sock):
        import socket

        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def set_mode(self, mode):
        assert mode in ("pass", "refuse", "stall"), mode
        previous, self.mode = self.mode, mode
        if mode == "refuse" and self._listener is not None:
            import socket

            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
            for sock in list(self._sockets):
                self._close(sock)
        elif mode == "pass":
            if previous == "stall":
                for sock in list(self._sockets):  # stalled connections never recover: cut them
                    self._close(sock)
            if self._listener is None:
                self._listen()

    def stop(self):
        self.set_mode("refuse")
