#!/usr/bin/python3
"""Classic ZooKeeper recipes through kazoo (Debian python3-kazoo) against a live server.

    /usr/bin/python3 tests/clients/kazoo_recipes.py --hosts 127.0.0.1:PORT

Exits 0 when every check passes, 1 with a message naming the failed check
otherwise.  Every wait is bounded; all nodes live under a fresh /kz-<random>
root.  Use /usr/bin/python3 (the interpreter that has kazoo installed).
"""

import argparse
import os
import sys
import threading
import time
import traceback
import uuid

try:
    from kazoo.client import KazooClient
    from kazoo.exceptions import (NoAuthError, NoNodeError, NodeExistsError,
                                  BadVersionError, NotEmptyError)
    from kazoo.protocol.states import EventType, KazooState
    from kazoo.security import make_digest_acl
    import kazoo
except ImportError as e:  # pragma: no cover
    print("FAIL: kazoo not importable (%s) with %s; run scripts/install-test-deps.sh "
          "and use /usr/bin/python3" % (e, sys.executable))
    sys.exit(1)

WAIT = 10.0   # seconds, upper bound for any single expected event
CHECKS = [0]


class CheckFailed(Exception):
    pass


def check(cond, what):
    CHECKS[0] += 1
    if not cond:
        raise CheckFailed(what)


def wait_for(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            CHECKS[0] += 1
            return
        time.sleep(0.02)
    raise CheckFailed("timed out after %.0fs waiting for: %s" % (timeout, what))


class Env:
    def __init__(self, hosts):
        self.hosts = hosts
        self.root = "/kz-" + uuid.uuid4().hex[:8]
        self.clients = []

    def client(self, **kw):
        c = KazooClient(hosts=self.hosts, timeout=10.0, **kw)
        c.start(timeout=15)
        self.clients.append(c)
        return c

    def close(self, c):
        try:
            c.stop()
            c.close()
        except Exception:
            pass
        if c in self.clients:
            self.clients.remove(c)

    def close_all(self):
        for c in list(self.clients):
            self.close(c)

    def p(self, *parts):
        return "/".join([self.root] + list(parts))


# ---------------------------------------------------------------------------

def t_basic_crud(env):
    c = env.client()
    c.ensure_path(env.root)
    p = env.p("crud")
    c.create(p, b"v0")
    data, st = c.get(p)
    check(data == b"v0" and st.version == 0, "get after create")
    st2 = c.set(p, b"v1", version=0)
    check(st2.version == 1 and st2.mzxid > st.mzxid, "set bumps version/mzxid")
    try:
        c.set(p, b"v2", version=0)
        check(False, "BadVersion expected")
    except BadVersionError:
        pass
    try:
        c.create(p)
        check(False, "NodeExists expected")
    except NodeExistsError:
        pass
    c.create(p + "/child")
    try:
        c.delete(p)
        check(False, "NotEmpty expected")
    except NotEmptyError:
        pass
    c.delete(p, recursive=True)
    check(c.exists(p) is None, "deleted")
    seq = [c.create(env.p("seq-"), sequence=True) for _ in range(3)]
    nums = [int(s[-10:]) for s in seq]
    check(nums == sorted(nums) and len(set(nums)) == 3, "sequential numbers increase: %s" % seq)


def t_service_discovery(env):
    reg = env.p("services", "api")
    watcher = env.client()
    watcher.ensure_path(reg)
    seen = []
    cond = threading.Condition()

    @watcher.ChildrenWatch(reg)
    def _w(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    wait_for(lambda: seen and seen[-1] == [], "initial empty membership")
    members = []
    for i in range(3):
        m = env.client()
        m.create(reg + "/node-%d" % i, b"127.0.0.1:%d" % (9000 + i), ephemeral=True)
        members.append(m)
        wait_for(lambda i=i: seen[-1] == ["node-%d" % j for j in range(i + 1)],
                 "join of node-%d seen (got %s)" % (i, seen[-1:]))
    # leave by explicit delete
    members[0].delete(reg + "/node-0")
    wait_for(lambda: seen[-1] == ["node-1", "node-2"], "explicit leave seen")
    # leave by session close: ephemeral must vanish
    env.close(members[1])
    wait_for(lambda: seen[-1] == ["node-2"], "leave on session close seen (got %s)" % seen[-1:])
    data, _ = watcher.get(reg + "/node-2")
    check(data == b"127.0.0.1:9002", "discovery payload")
    env.close(members[2])
    wait_for(lambda: seen[-1] == [], "all left")
    env.close(watcher)


def t_config_push(env):
    path = env.p("config")
    pub = env.client()
    sub = env.client()
    pub.create(path, b"cfg-0", makepath=True)
    got = []
    # Use one-shot watches re-armed by a read, so every version is observed.
    lock = threading.Lock()

    def arm(event=None):
        data, st = sub.get(path, watch=arm)
        with lock:
            if not got or got[-1][1] != st.version:
                got.append((data, st.version))

    # On an ensemble sub may talk to another member than pub: sync first (ZooKeeper only
    # promises a client its own writes; others' become visible after sync).
    sub.sync(path)
    arm()
    n = 15
    for i in range(1, n + 1):
        pub.set(path, b"cfg-%d" % i)
        # wait until the subscriber saw this version, so "every update" is checkable
        wait_for(lambda i=i: got and got[-1][1] == i, "config version %d seen" % i)
    check([v for _, v in got] == list(range(0, n + 1)), "every update seen in order: %s" % got)
    check(got[-1][0] == b"cfg-%d" % n, "last data")
    # DataWatch recipe too: versions must be monotonically increasing
    versions = []

    @sub.DataWatch(path)
    def _dw(data, stat):
        if stat is not None:
            versions.append(stat.version)

    for i in range(n + 1, n + 6):
        pub.set(path, b"cfg-%d" % i)
    wait_for(lambda: versions and versions[-1] == n + 5, "DataWatch saw last version")
    check(versions == sorted(versions), "DataWatch versions in order: %s" % versions)
    env.close(pub)
    env.close(sub)


def t_leader_election_raw(env):
    """Ephemeral-sequential lowest-wins election with a successor watch."""
    base = env.p("elect-raw")
    cs = [env.client() for _ in range(3)]
    cs[0].ensure_path(base)
    mine = [c.create(base + "/n_", b"%d" % i, ephemeral=True, sequence=True)
            for i, c in enumerate(cs)]

    def leader():
        kids = sorted(cs[-1].get_children(base))
        return base + "/" + kids[0] if kids else None

    check(leader() == mine[0], "lowest sequence is leader")
    fired = threading.Event()
    cs[1].exists(mine[0], watch=lambda ev: fired.set())
    env.close(cs[0])   # leader's session closes -> its node goes away
    check(fired.wait(WAIT), "successor notified of leader loss")
    check(leader() == mine[1], "next lowest becomes leader")
    env.close(cs[1])
    wait_for(lambda: leader() == mine[2], "third becomes leader")
    env.close(cs[2])


def t_lock(env):
    path = env.p("lock")
    n_clients, n_threads, iters = 3, 3, 4
    clients = [env.client() for _ in range(n_clients)]
    inside = [0]
    max_inside = [0]
    total = [0]
    guard = threading.Lock()
    errors = []

    def worker(c, ident):
        try:
            for _ in range(iters):
                lk = c.Lock(path, ident)
                if not lk.acquire(timeout=30):
                    errors.append("%s: acquire timed out" % ident)
                    return
                try:
                    with guard:
                        inside[0] += 1
                        max_inside[0] = max(max_inside[0], inside[0])
                    time.sleep(0.005)
                    with guard:
                        inside[0] -= 1
                        total[0] += 1
                finally:
                    lk.release()
        except Exception as e:
            errors.append("%s: %r" % (ident, e))

    ts = [threading.Thread(target=worker, args=(clients[i % n_clients], "w%d" % i), daemon=True)
          for i in range(n_clients * n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    check(not any(t.is_alive() for t in ts), "lock workers finished")
    check(not errors, "lock errors: %s" % errors)
    check(max_inside[0] == 1, "mutual exclusion (max holders %d)" % max_inside[0])
    check(total[0] == n_clients * n_threads * iters, "all critical sections ran")
    # contenders list and lock release on session close
    a, b = clients[0].Lock(path, "A"), clients[1].Lock(path, "B")
    check(a.acquire(timeout=10), "A acquires")
    got_b = threading.Event()
    tb = threading.Thread(target=lambda: b.acquire(timeout=30) and got_b.set(), daemon=True)
    tb.start()
    wait_for(lambda: len(a.contenders()) == 2, "two contenders")
    check(a.contenders()[0] == "A", "holder listed first")
    check(not got_b.wait(0.3), "B blocked while A holds")
    env.close(clients[0])             # session close releases A's lock
    check(got_b.wait(WAIT), "B acquires after A's session closed")
    b.release()
    tb.join(5)
    sem = clients[2].Semaphore(env.p("sem"), max_leases=2)
    check(sem.acquire(timeout=10), "semaphore lease")
    sem.release()
    for c in clients[1:]:
        env.close(c)


def t_election_recipe(env):
    path = env.p("election")
    clients = [env.client() for _ in range(3)]
    leaders = []
    stop = threading.Event()
    guard = threading.Lock()
    current = [0]
    max_cur = [0]

    def lead(name):
        with guard:
            current[0] += 1
            max_cur[0] = max(max_cur[0], current[0])
            leaders.append(name)
        stop.wait(0.3)
        with guard:
            current[0] -= 1

    elections = [c.Election(path, "cand-%d" % i) for i, c in enumerate(clients)]
    ts = [threading.Thread(target=e.run, args=(lead, "cand-%d" % i), daemon=True)
          for i, e in enumerate(elections)]
    for t in ts:
        t.start()
    wait_for(lambda: len(leaders) == 3, "each candidate led once (%s)" % leaders, timeout=30)
    for t in ts:
        t.join(10)
    check(max_cur[0] == 1, "one leader at a time")
    check(sorted(leaders) == ["cand-0", "cand-1", "cand-2"], "all led: %s" % leaders)
    for c in clients:
        env.close(c)


def t_queue(env):
    c1, c2 = env.client(), env.client()
    q = c1.Queue(env.p("queue"))
    for i in range(10):
        q.put(b"item-%d" % i)
    check(len(q) == 10, "queue length")
    out = [c2.Queue(env.p("queue")).get() for _ in range(10)]
    check(out == [b"item-%d" % i for i in range(10)], "FIFO order: %s" % out)
    check(q.get() is None, "empty queue")
    lq = c1.LockingQueue(env.p("lqueue"))
    lq.put(b"a", priority=50)
    lq.put(b"b", priority=10)
    lq2 = c2.LockingQueue(env.p("lqueue"))
    check(lq2.get(timeout=5) == b"b", "priority order")
    check(lq2.consume(), "consume")
    check(lq2.get(timeout=5) == b"a", "second item")
    check(lq2.consume(), "consume 2")
    env.close(c1)
    env.close(c2)


def t_barriers(env):
    c1, c2 = env.client(), env.client()
    b = c1.Barrier(env.p("barrier"))
    b.create()
    passed = threading.Event()
    t = threading.Thread(target=lambda: c2.Barrier(env.p("barrier")).wait(30) and passed.set(),
                         daemon=True)
    t.start()
    check(not passed.wait(0.3), "barrier holds")
    b.remove()
    check(passed.wait(WAIT), "barrier released")
    t.join(5)
    # double barrier with 3 participants
    clients = [c1, c2, env.client()]
    order = []
    guard = threading.Lock()
    errs = []

    def part(i):
        try:
            db = clients[i].DoubleBarrier(env.p("dbarrier"), 3, identifier="p%d" % i)
            db.enter()
            with guard:
                order.append(("in", i))
            time.sleep(0.05)
            db.leave()
            with guard:
                order.append(("out", i))
        except Exception as e:
            errs.append(repr(e))

    ts = [threading.Thread(target=part, args=(i,), daemon=True) for i in range(3)]
    for th in ts:
        th.start()
    for th in ts:
        th.join(30)
    check(not errs and not any(th.is_alive() for th in ts), "double barrier finished %s" % errs)
    firsts = [k for k, _ in order]
    check(firsts[:3] == ["in"] * 3, "nobody left before all entered: %s" % order)
    for c in clients:
        env.close(c)


def t_counter(env):
    clients = [env.client() for _ in range(3)]
    errs = []

    def inc(c):
        try:
            ctr = c.Counter(env.p("counter"))
            for _ in range(10):
                ctr += 1
        except Exception as e:
            errs.append(repr(e))

    ts = [threading.Thread(target=inc, args=(c,), daemon=True) for c in clients]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    check(not errs, "counter errors %s" % errs)
    check(clients[0].Counter(env.p("counter")).value == 30, "counter == 30")
    fc = clients[0].Counter(env.p("fcounter"), default=0.0)
    fc += 2.5
    check(fc.value == 2.5, "float counter")
    for c in clients:
        env.close(c)


def t_ephemeral_session_close(env):
    a, b = env.client(), env.client()
    p = env.p("eph")
    a.create(p, b"x", ephemeral=True, makepath=True)
    st = b.exists(p)
    check(st is not None and st.ephemeralOwner == a.client_id[0], "ephemeralOwner is session id")
    gone = threading.Event()
    b.exists(p, watch=lambda ev: ev.type == EventType.DELETED and gone.set())
    try:
        b.create(p + "/child")
        check(False, "NoChildrenForEphemerals expected")
    except Exception as e:
        check(type(e).__name__ == "NoChildrenForEphemeralsError", "NoChildrenForEphemerals: %r" % e)
    env.close(a)
    check(gone.wait(WAIT), "NodeDeleted on session close")
    check(b.exists(p) is None, "ephemeral removed")
    env.close(b)


def t_transactions(env):
    c = env.client()
    base = env.p("txn")
    c.ensure_path(base)
    t = c.transaction()
    t.create(base + "/a", b"1")
    t.create(base + "/b", b"2")
    t.set_data(base + "/a", b"3")
    t.check(base + "/a", 1)
    t.delete(base + "/b")
    res = t.commit()
    check(res[0] == base + "/a" and res[1] == base + "/b" and res[3] is True and res[4] is True,
          "multi success results: %r" % (res,))
    check(c.get(base + "/a")[0] == b"3" and c.exists(base + "/b") is None, "multi applied")
    t = c.transaction()
    t.create(base + "/c")
    t.check(base + "/a", 99)
    t.delete(base + "/a")
    res = t.commit()
    names = [type(r).__name__ for r in res]
    check(names == ["RolledBackError", "BadVersionError", "RuntimeInconsistency"],
          "multi failure results: %s" % names)
    check(c.exists(base + "/c") is None and c.exists(base + "/a") is not None, "nothing applied")
    env.close(c)


def t_acl_digest(env):
    owner = env.client(auth_data=[("digest", "alice:secret")])
    other = env.client()
    friend = env.client()
    friend.add_auth("digest", "alice:secret")
    p = env.p("secret")
    acl = make_digest_acl("alice", "secret", all=True)
    owner.create(p, b"s3cr3t", acl=[acl], makepath=True)
    check(owner.get(p)[0] == b"s3cr3t", "owner reads")
    # Against an ensemble the other sessions may sit on members that have not applied the
    # create yet: sync first, as any cross-session reader must in ZooKeeper.
    for c in (friend, other):
        c.sync(p)
    check(friend.get(p)[0] == b"s3cr3t", "same credentials on another session read")
    for what, fn in [("get", lambda: other.get(p)), ("set", lambda: other.set(p, b"x")),
                     ("get_children", lambda: other.get_children(p)),
                     ("create child", lambda: other.create(p + "/c"))]:
        try:
            fn()
            check(False, "NoAuth expected for %s" % what)
        except NoAuthError:
            CHECKS[0] += 1
    acls, _ = owner.get_acls(p)
    check(len(acls) == 1 and acls[0].id.id == acl.id.id, "getACL returns digest id")
    wrong = env.client(auth_data=[("digest", "alice:wrong")])
    wrong.sync(p)
    try:
        wrong.get(p)
        check(False, "NoAuth for wrong password")
    except NoAuthError:
        pass
    for c in (owner, other, friend, wrong):
        env.close(c)


def t_persistent_watch(env):
    c = env.client()
    if not hasattr(c, "add_watch"):
        print("  note: kazoo %s has no add_watch(); persistent recursive watches are covered "
              "by tests/diff/zkdiff.py" % getattr(kazoo, "__version__", "?"))
        env.close(c)
        return
    from kazoo.protocol.states import AddWatchMode  # kazoo >= 2.9
    base = env.p("pw")
    c.ensure_path(base)
    events = []
    c.add_watch(base, lambda ev: events.append((ev.type, ev.path)), AddWatchMode.PERSISTENT_RECURSIVE)
    w = env.client()
    w.create(base + "/a/b", makepath=True)
    w.set(base + "/a/b", b"x")
    w.delete(base + "/a/b")
    wait_for(lambda: len(events) >= 4, "recursive events %s" % events)
    env.close(w)
    env.close(c)


def t_session_events(env):
    states = []
    c = env.client()
    c.add_listener(lambda s: states.append(s))
    check(c.state == KazooState.CONNECTED, "connected")
    check(c.client_id and c.client_id[0] != 0, "session id assigned")
    c.sync("/")
    env.close(c)
    check(KazooState.LOST in states or states == [], "listener saw close: %s" % states)


TESTS = [t_basic_crud, t_service_discovery, t_config_push, t_leader_election_raw, t_lock,
         t_election_recipe, t_queue, t_barriers, t_counter, t_ephemeral_session_close,
         t_transactions, t_acl_digest, t_persistent_watch, t_session_events]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", default=os.environ.get("ZK_HOSTS"), required=not os.environ.get("ZK_HOSTS"))
    ap.add_argument("--only", default=None, help="run only tests whose name contains this")
    a = ap.parse_args()
    env = Env(a.hosts)
    failed = []
    t0 = time.monotonic()
    for t in TESTS:
        if a.only and a.only not in t.__name__:
            continue
        t1 = time.monotonic()
        try:
            t(env)
            print("ok   %-28s %.2fs" % (t.__name__, time.monotonic() - t1), flush=True)
        except Exception as e:
            failed.append(t.__name__)
            print("FAIL %-28s %s" % (t.__name__, e), flush=True)
            if not isinstance(e, CheckFailed):
                traceback.print_exc()
        finally:
            env.close_all()
    # cleanup
    try:
        c = KazooClient(hosts=a.hosts, timeout=10.0)
        c.start(timeout=10)
        c.add_auth("digest", "alice:secret")
        c.delete(env.root, recursive=True)
        c.stop()
        c.close()
    except Exception:
        pass
    print("kazoo %s: %d tests, %d checks, %d failed, %.1fs" % (
        getattr(kazoo, "__version__", "?"), len(TESTS), CHECKS[0], len(failed), time.monotonic() - t0))
    if failed:
        print("FAIL: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
