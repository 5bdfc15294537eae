#!/usr/bin/python3
"""Capture the monitoring four-letter words of a server kind, standalone and as an ensemble.

Starts (on 127.0.0.1) a standalone server, then three voters and one observer, runs the
same small kazoo load against each setup (sessions, creates, an ephemeral, reads, data
and child watches that fire), and writes every member's replies to
``OUT/{standalone,leader,follower,observer}_{cmd}.txt``. Used to compare zkserver's
``mntr`` key sets per role with Apache ZooKeeper 3.8's (see
crates/server/testdata/fourlw/README.md)::

    tests/harness/capture_fourlw.py --server zookeeper --out /tmp/cap-zk
    tests/harness/capture_fourlw.py --server zkserver --bin target/debug/zkserver --out /tmp/cap-zks

Every process is started here and stopped by PID (also from zkharness's atexit hook).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zkharness  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

CMDS = ["mntr", "srvr", "stat", "cons", "wchs", "conf", "envi"]


def load(hosts, tag):
    """Sessions, writes, reads and watches that fire: every counter kind moves."""
    fired = []
    a = KazooClient(hosts=hosts, timeout=10)
    b = KazooClient(hosts=hosts, timeout=20)
    a.start(timeout=20)
    b.start(timeout=20)
    try:
        a.ensure_path("/app")
        for i in range(10):
            a.create("/app/n%d" % i, b"x" * (10 * i))
        b.create("/app/eph", b"e", ephemeral=True)
        for i in range(10):
            b.get("/app/n%d" % i)
        b.get("/app/n1", watch=fired.append)
        b.get_children("/app", watch=fired.append)
        a.exists("/app/later", watch=fired.append)
        a.set("/app/n1", b"changed")
        a.create("/app/later", b"")
        a.delete("/app/n2")
        deadline = time.monotonic() + 10
        while len(fired) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        b.get("/app/n3", watch=lambda e: None)  # stays registered: wchs shows it
        c = KazooClient(hosts=hosts, timeout=10)
        c.start(timeout=20)
        c.get("/app")
        c.stop()
        c.close()
        return a, b
    except BaseException:
        a.stop()
        b.stop()
        raise


def capture(port, prefix, out):
    for cmd in CMDS:
        text = zkharness.four_letter(port, cmd)
        with open(os.path.join(out, "%s_%s.txt" % (prefix, cmd)), "w") as f:
            f.write(text)


def spawn(kind, bin_path, cfg, workdir):
    log = open(os.path.join(workdir, "server.log"), "wb")
    if kind == "zookeeper":
        argv = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-cp", ":".join(zkharness.ZK_CLASSPATH), zkharness.ZK_MAIN, cfg]
    else:
        argv = [bin_path, "--config", cfg]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    log.close()
    return p


def mode(port):
    for line in zkharness.four_letter(port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return None


def ensemble(kind, bin_path, out):
    n = 4
    ports = [zkharness.free_port() for _ in range(3 * n)]
    tmp = tempfile.mkdtemp(prefix="capture-fourlw-%s-" % kind)
    servers = "".join(
        "server.%d=127.0.0.1:%d:%d%s\n" % (i + 1, ports[n + i], ports[2 * n + i],
                                            ":observer" if i == 3 else "")
        for i in range(n))
    procs = []
    try:
        for i in range(n):
            d = os.path.join(tmp, "m%d" % (i + 1))
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            cfg = os.path.join(d, "zoo.cfg")
            with open(cfg, "w") as f:
                f.write("tickTime=200\ninitLimit=20\nsyncLimit=10\ndataDir=%s\n"
                        "clientPort=%d\nclientPortAddress=127.0.0.1\n"
                        "4lw.commands.whitelist=*\nadmin.enableServer=false\n"
                        "maxClientCnxns=0\n%s%s"
                        % (os.path.join(d, "data"), ports[i],
                           "peerType=observer\n" if i == 3 else "", servers))
            procs.append(spawn(kind, bin_path, cfg, d))
        deadline = time.monotonic() + 60
        while True:
            modes = [mode(p) for p in ports[:n]]
            if sorted(m or "" for m in modes) == ["follower", "follower", "leader", "observer"]:
                break
            if time.monotonic() > deadline:
                raise SystemExit("no ensemble: %r" % modes)
            time.sleep(0.2)
        leader = modes.index("leader")
        a, b = load("127.0.0.1:%d" % ports[leader], "ensemble")
        time.sleep(1.5)  # a few pings: learners' session touches, stable counters
        for role in ["leader", "follower", "observer"]:
            capture(ports[modes.index(role)], role, out)
        a.stop()
        b.stop()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", choices=["zookeeper", "zkserver"], required=True)
    ap.add_argument("--bin", help="zkserver binary")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with zkharness.start_server(args.server, bin_path=args.bin,
                                extra={"4lw.commands.whitelist": "*",
                                       "admin.enableServer": "false"}) as srv:
        a, b = load(srv.hosts, "standalone")
        time.sleep(0.5)
        capture(srv.port, "standalone", args.out)
        a.stop()
        b.stop()
    ensemble(args.server, args.bin, args.out)
    print("captured into %s" % args.out)


if __name__ == "__main__":
    main()
