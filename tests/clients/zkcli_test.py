#!/usr/bin/python3
"""Drive Apache ZooKeeper's zkCli.sh (Debian `zookeeper` package) against a live server.

    /usr/bin/python3 tests/clients/zkcli_test.py --hosts 127.0.0.1:PORT

zkCli.sh is used both ways it runs without a terminal:
  * one command per JVM:  zkCli.sh -server HOST:PORT <cmd> <args>
  * a short session fed on stdin (needed where state spans commands, e.g.
    addauth then get, or an ephemeral node seen by its own session).
zkCli.sh always exits 0, so every step checks the printed output.
Exits 0 if all checks pass, 1 otherwise (each failure printed with output).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
DIGEST = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="   # digest of alice:secret


class Runner:
    def __init__(self, hosts):
        self.hosts = hosts
        self.logdir = tempfile.mkdtemp(prefix="zkcli-log-")
        self.checks = 0
        self.failures = []
        self.env = dict(os.environ, ZOO_LOG_DIR=self.logdir,
                        CLIENT_JVMFLAGS="-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

    def run(self, args=None, stdin=None, timeout=60):
        cmd = [ZKCLI, "-server", self.hosts] + (args or [])
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                               timeout=timeout, env=self.env)
            out = p.stdout + p.stderr
            if p.returncode != 0:
                out += "\n(zkCli.sh exit code %d)" % p.returncode
        except subprocess.TimeoutExpired as e:
            out = "TIMEOUT after %ds\n%s" % (timeout, e.stdout or "")
        # drop the connection banner / watcher noise, keep command output
        keep = [l for l in out.splitlines()
                if l.strip() and not l.startswith(("WATCHER::", "WatchedEvent", "Connecting to",
                                                    "log4j:", "SLF4J:"))]
        return "\n".join(keep)

    def expect(self, name, out, must=(), must_not=()):
        bad = []
        for rx in must:
            self.checks += 1
            if not re.search(rx, out, re.M):
                bad.append("missing /%s/" % rx)
        for rx in must_not:
            self.checks += 1
            if re.search(rx, out, re.M):
                bad.append("unexpected /%s/" % rx)
        if bad:
            self.failures.append(name)
            print("FAIL %-32s %s\n----- output -----\n%s\n------------------" % (name, "; ".join(bad), out))
        else:
            print("ok   %s" % name, flush=True)

    def cmd(self, name, args, must=(), must_not=()):
        out = self.run(args)
        self.expect(name, out, must, must_not)
        return out

    def session(self, name, lines, must=(), must_not=()):
        out = self.run(stdin="\n".join(lines + ["quit"]) + "\n")
        self.expect(name, out, must, must_not)
        return out


STAT_RX = [r"^cZxid = 0x[0-9a-f]+$", r"^ctime = ", r"^mZxid = 0x[0-9a-f]+$", r"^mtime = ",
           r"^pZxid = 0x[0-9a-f]+$", r"^cversion = -?\d+$", r"^dataVersion = \d+$",
           r"^aclVersion = \d+$", r"^ephemeralOwner = 0x[0-9a-f]+$", r"^dataLength = \d+$",
           r"^numChildren = \d+$"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", default=os.environ.get("ZK_HOSTS"), required=not os.environ.get("ZK_HOSTS"))
    a = ap.parse_args()
    if not os.access(ZKCLI, os.X_OK) or shutil.which("java") is None:
        print("FAIL: %s or java missing; run scripts/install-test-deps.sh" % ZKCLI)
        return 1
    R = Runner(a.hosts)
    b = "/zkcli-" + uuid.uuid4().hex[:8]
    t0 = time.monotonic()
    try:
        # --- one command per invocation -------------------------------------
        R.cmd("create", ["create", b, "root-data"], [r"^Created %s$" % b])
        R.cmd("create again -> exists", ["create", b, "x"], [r"Node already exists: %s" % b])
        R.cmd("create child of missing", ["create", b + "/no/such"], [r"Node does not exist: %s/no" % b])
        R.cmd("get", ["get", b], [r"^root-data$"])
        R.cmd("create child", ["create", b + "/a", "alpha"], [r"^Created %s/a$" % b])
        R.cmd("ls", ["ls", b], [r"^\[a\]$"])
        R.cmd("set", ["set", b + "/a", "beta"], [], [r"Exception|Error|not exist"])
        R.cmd("get -s", ["get", "-s", b + "/a"], [r"^beta$", r"^dataVersion = 1$", r"^dataLength = 4$"] + STAT_RX)
        R.cmd("set -v bad version", ["set", "-v", "7", b + "/a", "gamma"], [r"version No is not valid : %s/a" % b])
        R.cmd("set -v good version", ["set", "-v", "1", b + "/a", "gamma"], [], [r"not valid|Exception"])
        R.cmd("stat", ["stat", b + "/a"], [r"^dataVersion = 2$", r"^numChildren = 0$"] + STAT_RX)
        R.cmd("stat missing", ["stat", b + "/zz"], [r"Node does not exist: %s/zz" % b])
        R.cmd("get missing", ["get", b + "/zz"], [r"Node does not exist: %s/zz" % b])
        out = R.cmd("create -s", ["create", "-s", b + "/s-", "x"], [r"^Created %s/s-\d{10}$" % b])
        seq1 = re.search(r"s-(\d{10})", out)
        out = R.cmd("create -s again", ["create", "-s", b + "/s-", "x"], [r"^Created %s/s-\d{10}$" % b])
        seq2 = re.search(r"s-(\d{10})", out)
        R.checks += 1
        if not (seq1 and seq2 and int(seq2.group(1)) > int(seq1.group(1))):
            R.failures.append("sequence increases")
            print("FAIL sequence numbers do not increase: %s %s" % (seq1, seq2))
        R.cmd("ls -s", ["ls", "-s", b], [r"^\[a, s-\d{10}, s-\d{10}\]$", r"^numChildren = 3$"])
        # In one-command mode zkCli.sh exits without closing its session, so the
        # ephemeral stays until the session expires; check its owner instead.
        R.cmd("create -e", ["create", "-e", b + "-eph", "e"], [r"^Created %s-eph$" % b])
        R.cmd("ephemeral has an owner", ["stat", b + "-eph"],
              [r"^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$"])
        R.cmd("delete non-empty", ["delete", b], [r"Node not empty: %s" % b])
        R.cmd("delete -v bad", ["delete", "-v", "5", b + "/a"], [r"version No is not valid : %s/a" % b])
        R.cmd("delete", ["delete", b + "/a"], [], [r"not|Exception"])
        R.cmd("ls after delete", ["ls", b], [r"^\[s-\d{10}, s-\d{10}\]$"])
        R.cmd("create bad path", ["create", b + "/"], [r"Path must not end with / character|Invalid path"])

        # --- sessions on stdin ------------------------------------------------
        R.session("ephemeral + ephemeral sequential in one session",
                  ["create -e %s/e1 one" % b, "create -e -s %s/es- two" % b, "stat %s/e1" % b,
                   "ls %s" % b],
                  [r"^Created %s/e1$" % b, r"^Created %s/es-\d{10}$" % b,
                   r"^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$", r"e1"])
        R.cmd("ephemerals removed at session close", ["ls", b], [r"^\[s-\d{10}, s-\d{10}\]$"])
        R.session("addauth + setAcl + getAcl",
                  ["addauth digest alice:secret", "create %s/sec s3cr3t" % b,
                   "setAcl %s/sec auth:alice:secret:cdrwa" % b, "getAcl %s/sec" % b, "get %s/sec" % b],
                  [r"^'digest,'%s$" % re.escape(DIGEST), r"^: cdrwa$", r"^s3cr3t$"],
                  [r"Insufficient permission"])
        R.cmd("NoAuth without credentials", ["get", b + "/sec"], [r"Insufficient permission : %s/sec" % b],
              [r"s3cr3t"])
        R.cmd("getAcl without ADMIN", ["getAcl", b + "/sec"], [r"Insufficient permission : %s/sec" % b])
        R.cmd("setAcl world read-only", ["setAcl", b + "/s-0000000001", "world:anyone:r"], [],
              [r"Exception|Error|not exist"])
        R.cmd("getAcl world", ["getAcl", b + "/s-0000000001"], [r"^'world,'anyone$", r"^: r$"])
        R.cmd("set on read-only node", ["set", b + "/s-0000000001", "z"],
              [r"Insufficient permission : %s/s-0000000001" % b])
        R.cmd("setAcl digest explicit", ["setAcl", b + "/s-0000000002", "digest:%s:cdrwa" % DIGEST], [],
              [r"Exception|Error"])
        R.session("addauth then read digest node",
                  ["addauth digest alice:secret", "get %s/s-0000000002" % b,
                   "getAcl %s/s-0000000002" % b],
                  [r"^x$", r"^'digest,'%s$" % re.escape(DIGEST)], [r"Insufficient permission"])
        R.session("wrong password", ["addauth digest alice:nope", "get %s/s-0000000002" % b],
                  [r"Insufficient permission"])
        R.cmd("deleteall blocked by ACL", ["deleteall", b], [r"Insufficient permission"])
        R.session("deleteall with credentials", ["addauth digest alice:secret", "deleteall %s" % b],
                  [], [r"Exception|Error|Insufficient"])
        R.cmd("deleteall removed the tree", ["stat", b], [r"Node does not exist: %s" % b])
    finally:
        shutil.rmtree(R.logdir, ignore_errors=True)
    print("zkCli.sh: %d checks, %d failed, %.1fs" % (R.checks, len(R.failures), time.monotonic() - t0))
    if R.failures:
        print("FAIL: " + ", ".join(R.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
