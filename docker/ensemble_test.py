#!/usr/bin/python3
"""The three-member compose ensemble under faults; run by test-ensemble.sh, which builds the
image, picks the host ports, and always runs `compose down -v` afterwards.

Steps (each wait bounded):
  1. compose up; all three members healthy (the healthcheck needs ruok=imok and a Mode:);
  2. srvr on each: one leader, two followers;
  3. a kazoo client given all three hosts writes, and every member reads the writes
     (through a client of its own, after sync);
  4. `compose stop` the leader: a new leader among the other two; the first client keeps
     its session (same session id, its ephemeral znode still there) and reads and writes;
  5. `compose start` it again: healthy, a follower, and it has the writes it missed;
  6. `docker network disconnect` the (new) leader: it stops serving, the other two elect a
     leader and take writes, the client keeps its session; `docker network connect` it back
     (with its service alias): it rejoins as a follower and catches up;
  7. at the end: one leader, two followers, every member has every write.

Environment: ZK_PORT_1..3 (host ports), COMPOSE_PROJECT, COMPOSE_FILES (colon-separated
compose files), ZK_COMPOSE_CMD (space-separated, e.g. "docker compose").
Prints "N passed, N failed" last.
"""

import json
import logging
import os
import subprocess
import sys
import time

from kazoo.client import KazooClient, KazooState

SERVICES = ["zoo1", "zoo2", "zoo3"]
PORTS = {s: int(os.environ[f"ZK_PORT_{i + 1}"]) for i, s in enumerate(SERVICES)}
PROJECT = os.environ["COMPOSE_PROJECT"]
COMPOSE = os.environ.get("ZK_COMPOSE_CMD", "docker-compose").split() + ["-p", PROJECT]
for _f in os.environ["COMPOSE_FILES"].split(":"):
    COMPOSE += ["-f", _f]
ALL_HOSTS = ",".join(f"127.0.0.1:{PORTS[s]}" for s in SERVICES)

passed = 0
failed = 0
t0 = time.monotonic()


class Abort(Exception):
    """A step the rest depends on failed."""


def log(msg):
    print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        log(f"ok   - {name}")
    else:
        failed += 1
        log(f"FAIL - {name}{': ' + detail if detail else ''}")
    return ok


def must(name, ok, detail=""):
    if not check(name, ok, detail):
        raise Abort(name)


def run(args, timeout=60, check_rc=True):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        raise Abort(f"{' '.join(args)} -> {p.returncode}: {p.stderr.strip()[-500:]}")
    return p.stdout


def compose(*args, timeout=120):
    return run(COMPOSE + list(args), timeout=timeout)


def cid(service):
    out = compose("ps", "-a", "-q", service, timeout=30).split()
    return out[0] if out else None


def inspect(service):
    c = cid(service)
    if not c:
        return {}
    out = run(["docker", "inspect", c], timeout=30, check_rc=False)
    try:
        return json.loads(out)[0]
    except (ValueError, IndexError):
        return {}


def health(service):
    st = inspect(service).get("State", {})
    if not st:
        return "missing"
    if not st.get("Running"):
        return "exited" if not st.get("Restarting") else "restarting"
    return (st.get("Health") or {}).get("Status", "none")


def logs_tail(service, n=20):
    c = cid(service)
    if not c:
        return "(no container)"
    p = subprocess.run(["docker", "logs", "--tail", str(n), c], capture_output=True, text=True, timeout=30)
    return (p.stdout + p.stderr).strip()


def srvr(service):
    c = cid(service)
    if not c:
        return ""
    p = subprocess.run(["docker", "exec", c, "zk-healthcheck.sh", "srvr"],
                       capture_output=True, text=True, timeout=15)
    return p.stdout


def mode(service):
    for line in srvr(service).splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


def wait_for(what, pred, limit):
    deadline = time.monotonic() + limit
    while True:
        try:
            v = pred()
        except (subprocess.TimeoutExpired, Abort):
            v = None
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(1)


def wait_healthy(services, limit):
    """All healthy, or None. Gives up early when a member keeps exiting: that is the
    members refusing their configuration, which no wait will change."""
    deadline = time.monotonic() + limit
    while True:
        states = {s: health(s) for s in services}
        if all(v == "healthy" for v in states.values()):
            return states
        restarts = {s: inspect(s).get("RestartCount", 0) for s in services}
        if time.monotonic() >= deadline or all(r >= 3 for r in restarts.values()):
            log(f"states: {states}, restart counts: {restarts}")
            for s in services:
                log(f"--- {s} logs (tail) ---\n{logs_tail(s)}")
            return None
        time.sleep(1)


def modes():
    return {s: mode(s) for s in SERVICES}


def one_leader(services):
    m = {s: mode(s) for s in services}
    leaders = [s for s, v in m.items() if v == "leader"]
    followers = [s for s, v in m.items() if v == "follower"]
    if len(leaders) == 1 and len(followers) == len(services) - 1:
        return leaders[0]
    return None


def member_has(service, expected):
    """A client of its own to this member only; sync, then read every expected znode."""
    zk = KazooClient(hosts=f"127.0.0.1:{PORTS[service]}", timeout=10.0,
                     connection_retry={"max_tries": 2})
    try:
        zk.start(timeout=15)
        zk.sync("/ens")
        for path, value in expected.items():
            got = zk.get(path)[0].decode()
            if got != value:
                log(f"{service}: {path} = {got!r}, expected {value!r}")
                return False
        return True
    except Exception as e:  # noqa: BLE001 - any failure is a failed check here
        log(f"{service}: {type(e).__name__}: {e}")
        return False
    finally:
        zk.stop()
        zk.close()


def network_of(service):
    nets = inspect(service).get("NetworkSettings", {}).get("Networks", {})
    return next(iter(nets), None)


def main():
    written = {}
    client = None
    try:
        log(f"compose up ({PROJECT}; host ports {PORTS})")
        compose("up", "-d")
        must("all three members healthy", wait_healthy(SERVICES, 120) is not None,
             "see the logs above")

        leader = wait_for("a leader", lambda: one_leader(SERVICES), 60)
        must("srvr: one leader and two followers", leader is not None, str(modes()))
        log(f"leader: {leader}")

        states = []
        client = KazooClient(hosts=ALL_HOSTS, timeout=30.0,
                             connection_retry={"max_tries": -1, "max_delay": 2})
        client.add_listener(lambda s: states.append(s))
        client.start(timeout=30)
        session = client.client_id[0]
        client.ensure_path("/ens")
        client.create("/ens/ephemeral", b"mine", ephemeral=True)
        for k, v in (("a", "1"), ("b", "2")):
            client.create(f"/ens/{k}", v.encode())
            written[f"/ens/{k}"] = v
        check("kazoo (all three hosts) writes and reads",
              all(client.get(p)[0].decode() == v for p, v in written.items()))
        for s in SERVICES:
            check(f"{s} has the writes", member_has(s, written))

        # --- the leader stops ---------------------------------------------------------------
        log(f"compose stop {leader}")
        compose("stop", "-t", "10", leader)
        rest = [s for s in SERVICES if s != leader]
        new_leader = wait_for("a new leader", lambda: one_leader(rest), 60)
        must("a new leader among the other two", new_leader is not None,
             str({s: mode(s) for s in rest}))
        log(f"new leader: {new_leader}")
        client.create("/ens/c", b"3")  # retried by kazoo until the client has reconnected
        written["/ens/c"] = "3"
        check("the client kept its session", client.client_id[0] == session
              and KazooState.LOST not in states, f"{client.client_id[0]:#x} vs {session:#x}, {states}")
        check("its ephemeral znode is still there", client.exists("/ens/ephemeral") is not None)
        check("the data is there after the failover",
              all(client.get(p)[0].decode() == v for p, v in written.items()))

        log(f"compose start {leader}")
        compose("start", leader)
        must(f"{leader} healthy again", wait_healthy([leader], 90) is not None)
        check(f"{leader} rejoined as a follower", wait_for("follower", lambda: mode(leader) == "follower", 30))
        check(f"{leader} caught up (has the write it missed)", member_has(leader, written))

        # --- a member is cut off the network ---------------------------------------------------
        victim = one_leader(SERVICES) or new_leader
        net = network_of(victim)
        must("the compose network is known", net is not None)
        log(f"docker network disconnect {net} {victim} (the leader)")
        run(["docker", "network", "disconnect", net, cid(victim)])
        rest = [s for s in SERVICES if s != victim]
        check(f"{victim} stops serving when cut off",
              wait_for("not serving", lambda: mode(victim) is None, 60),
              srvr(victim).strip()[:200])
        new_leader = wait_for("a leader", lambda: one_leader(rest), 60)
        must("the other two elect a leader", new_leader is not None, str({s: mode(s) for s in rest}))
        client.create("/ens/d", b"4")
        written["/ens/d"] = "4"
        check("writes go on; the client kept its session", client.client_id[0] == session
              and KazooState.LOST not in states)

        log(f"docker network connect {net} {victim}")
        run(["docker", "network", "connect", "--alias", victim, net, cid(victim)])
        check(f"{victim} rejoins as a follower",
              wait_for("follower", lambda: mode(victim) == "follower", 90), str(mode(victim)))
        check(f"{victim} caught up", member_has(victim, written))

        # --- the end state ---------------------------------------------------------------------
        check("all three healthy at the end", wait_healthy(SERVICES, 60) is not None)
        check("one leader and two followers at the end",
              wait_for("leader", lambda: one_leader(SERVICES), 30) is not None, str(modes()))
        for s in SERVICES:
            check(f"{s} has every write", member_has(s, written))
    except Abort as e:
        log(f"stopped: {e}")
    except Exception as e:  # noqa: BLE001 - report, count, and let the wrapper clean up
        check("no unexpected error", False, f"{type(e).__name__}: {e}")
    finally:
        if client is not None:
            try:
                client.stop()
                client.close()
            except Exception:  # noqa: BLE001
                pass
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    sys.exit(main())
