#!/usr/bin/python3
"""Start and stop a ZooKeeper-compatible server on 127.0.0.1 for tests.

Two kinds of server are supported:

* ``zookeeper`` -- Apache ZooKeeper 3.8 from the Debian ``zookeeper`` package,
  started with ``java`` directly (QuorumPeerMain, standalone) and a generated
  zoo.cfg in a fresh temporary directory.
* ``zkserver``  -- our binary, started as ``zkserver --config <zoo.cfg>`` with
  the same generated zoo.cfg.

Python 3 standard library only, importable by the other test scripts::

    from zkharness import start_server
    with start_server("zookeeper", extra={"extendedTypesEnabled": "true"}) as srv:
        print(srv.hosts)          # "127.0.0.1:PORT"

Command line (runs a command against a fresh server, then stops it; the
command's arguments may contain ``{hosts}`` and ``{port}``, and the
environment gets ZK_HOSTS)::

    tests/harness/zkharness.py --server zookeeper -- /usr/bin/python3 x.py --hosts {hosts}
    tests/harness/zkharness.py --server zkserver --bin target/debug/zkserver -- ...
    tests/harness/zkharness.py --server zookeeper --serve 60   # just run it 60 s

Every process started here is stopped by PID: in ``stop()``, in the context
manager's exit, and from an ``atexit`` hook / SIGTERM handler as a last resort.
"""

import argparse
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ZK_JAR_DIR = "/usr/share/java"
ZK_CLASSPATH = [
    # zookeeper.jar's manifest Class-Path pulls in the rest (jute, netty, ...).
    os.path.join(ZK_JAR_DIR, "zookeeper.jar"),
    # A simple SLF4J binding that logs to stderr (which we redirect to a file).
    os.path.join(ZK_JAR_DIR, "slf4j-simple.jar"),
]
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
INSTALL_HINT = "run scripts/install-test-deps.sh"

_LIVE = {}  # pid -> Server, for the atexit safety net


class HarnessError(Exception):
    pass


def free_port():
    """A currently unused TCP port on 127.0.0.1 (best effort, as always)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(port, cmd, host="127.0.0.1", timeout=2.0):
    """Send a four-letter word; return the text answer ('' on any error)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(cmd.encode("ascii"))
            chunks = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""


def check_zookeeper_installed():
    missing = [p for p in ZK_CLASSPATH if not os.path.exists(p)]
    if shutil.which("java") is None:
        missing.append("java")
    if missing:
        raise HarnessError("Apache ZooKeeper not installed (missing %s); %s"
                           % (", ".join(missing), INSTALL_HINT))


def write_zoo_cfg(path, port, data_dir, extra=None):
    cfg = {
        "tickTime": "2000",
        "initLimit": "5",
        "syncLimit": "2",
        "dataDir": data_dir,
        "clientPort": str(port),
        "clientPortAddress": "127.0.0.1",
        "maxClientCnxns": "0",
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "*",
    }
    for k, v in (extra or {}).items():
        cfg[k] = str(v)
    with open(path, "w") as f:
        for k, v in cfg.items():
            f.write("%s=%s\n" % (k, v))
    return cfg


class Server:
    """One running server process (use start_server() to create)."""

    def __init__(self, kind, port, workdir, proc, log_path, keep_dir):
        self.kind = kind
        self.port = port
        self.host = "127.0.0.1"
        self.hosts = "127.0.0.1:%d" % port
        self.workdir = workdir
        self.proc = proc
        self.pid = proc.pid
        self.log_path = log_path
        self.keep_dir = keep_dir

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout=10.0):
        """Stop the process we started (by its PID), then remove the temp dir."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=timeout)
        _LIVE.pop(self.pid, None)
        if not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_ready(srv, timeout):
    """Ready = process alive, `ruok` says imok and `srvr` reports a Mode.

    (ZooKeeper answers `ruok` before it is serving, so ruok alone is not
    enough.)"""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not srv.alive():
            raise HarnessError("%s exited early (rc=%s); log tail:\n%s"
                               % (srv.kind, srv.proc.returncode, srv.log_tail()))
        if four_letter(srv.port, "ruok", timeout=1.0) == "imok":
            last = four_letter(srv.port, "srvr", timeout=1.0)
            if "Mode:" in last and "not currently serving" not in last:
                return
        time.sleep(0.2)
    raise HarnessError("%s on port %d not ready after %.0fs (last srvr: %r); log tail:\n%s"
                       % (srv.kind, srv.port, timeout, last, srv.log_tail()))


def start_server(kind="zookeeper", bin_path=None, port=None, extra=None,
                 ready_timeout=30.0, keep_dir=False):
    """Start a standalone server on 127.0.0.1 and wait until it serves."""
    if port is None:
        port = free_port()
    if kind == "zookeeper":
        check_zookeeper_installed()
    elif kind == "zkserver":
        if not bin_path or not os.access(bin_path, os.X_OK):
            raise HarnessError("zkserver binary not found/executable: %r" % (bin_path,))
    else:
        raise HarnessError("unknown server kind %r (zookeeper|zkserver)" % kind)

    workdir = tempfile.mkdtemp(prefix="zkharness-%s-%d-" % (kind, port))
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir)
    cfg_path = os.path.join(workdir, "zoo.cfg")
    write_zoo_cfg(cfg_path, port, data_dir, extra)
    log_path = os.path.join(workdir, "server.log")
    logf = open(log_path, "wb")

    if kind == "zookeeper":
        argv = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-cp", ":".join(ZK_CLASSPATH), ZK_MAIN, cfg_path]
    else:
        argv = [bin_path, "--config", cfg_path]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                            stderr=subprocess.STDOUT, cwd=workdir,
                            start_new_session=True)
    logf.close()
    srv = Server(kind, port, workdir, proc, log_path, keep_dir)
    _LIVE[proc.pid] = srv
    try:
        _wait_ready(srv, ready_timeout)
    except BaseException:
        sys.stderr.write("zkharness: %s failed to start; log at %s\n" % (kind, log_path))
        srv.keep_dir = True
        srv.stop()
        raise
    return srv


def _cleanup_all():
    for srv in list(_LIVE.values()):
        try:
            srv.stop(timeout=5.0)
        except Exception:
            pass


atexit.register(_cleanup_all)


def _on_term(signum, frame):
    _cleanup_all()
    sys.exit(128 + signum)


def add_server_args(p, prefix=""):
    """Shared --server/--bin options (used by zkdiff.py as well)."""
    p.add_argument("--%sserver" % prefix, choices=["zookeeper", "zkserver"],
                   default=os.environ.get("ZK_SERVER_KIND", "zookeeper"))
    p.add_argument("--%sbin" % prefix, default=os.environ.get("ZKSERVER_BIN"),
                   help="path of the zkserver binary (for --server zkserver)")


def parse_kv(items):
    out = {}
    for it in items or []:
        if "=" not in it:
            raise SystemExit("--cfg expects key=value, got %r" % it)
        k, v = it.split("=", 1)
        out[k] = v
    return out


def main():
    signal.signal(signal.SIGTERM, _on_term)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_args(p)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--cfg", action="append", help="extra zoo.cfg key=value")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="kill the command after this many seconds")
    p.add_argument("--serve", type=float, default=None,
                   help="no command: keep the server up this many seconds")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    try:
        srv = start_server(a.server, a.bin, a.port, parse_kv(a.cfg))
    except HarnessError as e:
        print("zkharness: FAIL: %s" % e, file=sys.stderr)
        return 2
    with srv:
        print("zkharness: %s serving on %s (pid %d)" % (a.server, srv.hosts, srv.pid), flush=True)
        if not cmd:
            time.sleep(a.serve if a.serve is not None else 0)
            return 0
        cmd = [c.replace("{hosts}", srv.hosts).replace("{port}", str(srv.port)) for c in cmd]
        env = dict(os.environ, ZK_HOSTS=srv.hosts)
        child = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            rc = child.wait(timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print("zkharness: FAIL: command timed out after %.0fs" % a.timeout, file=sys.stderr)
            child.kill()
            child.wait()
            rc = 124
        except BaseException:
            child.kill()
            child.wait()
            raise
        if not srv.alive():
            print("zkharness: FAIL: server died during the test; log tail:\n%s" % srv.log_tail(),
                  file=sys.stderr)
            rc = rc or 3
        elif rc != 0:
            print("zkharness: server log tail:\n%s" % srv.log_tail(20), file=sys.stderr)
        return rc


if __name__ == "__main__":
    sys.exit(main())
