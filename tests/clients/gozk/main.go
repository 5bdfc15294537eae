// Command gozk exercises a live ZooKeeper-compatible server through the
// go-zookeeper client (github.com/samuel/go-zookeeper, Debian package
// golang-github-samuel-go-zookeeper-dev). Build offline with GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/gozk ./tests/clients/gozk
//	/tmp/gozk --hosts 127.0.0.1:PORT
//
// or simply tests/clients/gozk/run.sh --hosts 127.0.0.1:PORT.
// Exit status 0 = all checks passed, 1 = a check failed (message on stdout).
// Note: go-zookeeper (samuel) sends a ConnectRequest WITHOUT the trailing
// readOnly byte, so this also covers the "old client" handshake.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/samuel/go-zookeeper/zk"
)

const wait = 10 * time.Second

var (
	hosts      = flag.String("hosts", os.Getenv("ZK_HOSTS"), "host:port of the server")
	skipExpiry = flag.Bool("skip-expiry", false, "skip the (slow, ~8 s) session expiry check")
	// Failover mode (an ensemble test drives it): kill these members by PID and hand
	// over between phases through files in --failover-dir.
	failoverDir = flag.String("failover-dir", "", "run only the failover test, handing over through this directory")
	followerPid = flag.Int("follower-pid", 0, "failover: the follower listed first in --hosts")
	leaderPid   = flag.Int("leader-pid", 0, "failover: the leader, listed second")
	checks      int64
	root        string
)

// servers splits --hosts ("h1:p1,h2:p2,...") into go-zookeeper's server list.
func servers() []string {
	return strings.Split(*hosts, ",")
}

type failure struct{ msg string }

func check(cond bool, format string, args ...interface{}) {
	atomic.AddInt64(&checks, 1)
	if !cond {
		panic(failure{fmt.Sprintf(format, args...)})
	}
}

func must(err error, what string) {
	check(err == nil, "%s: %v", what, err)
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...interface{}) {}

func connect(opts ...func(*zk.Conn)) *zk.Conn {
	c, ev, err := zk.Connect(servers(), 10*time.Second, zk.WithLogger(quietLogger{}))
	must(err, "connect")
	deadline := time.After(wait)
	for {
		select {
		case e := <-ev:
			if e.State == zk.StateHasSession {
				go func() {
					for range ev {
					}
				}()
				return c
			}
		case <-deadline:
			check(false, "no session within %v", wait)
		}
	}
}

// catchUp makes c's server apply everything committed so far (against an ensemble c may
// sit on another member than the session that just wrote): ZooKeeper's sync.
func catchUp(c *zk.Conn, path string) {
	_, err := c.Sync(path)
	must(err, "sync")
}

func waitEvent(ch <-chan zk.Event, what string) zk.Event {
	select {
	case e := <-ch:
		return e
	case <-time.After(wait):
		check(false, "timed out waiting for %s", what)
	}
	return zk.Event{}
}

func testCRUDWatches() {
	a, b := connect(), connect()
	defer a.Close()
	defer b.Close()
	p := root + "/crud"
	_, err := a.Create(p, []byte("v0"), 0, zk.WorldACL(zk.PermAll))
	must(err, "create")
	_, err = a.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
	check(err == zk.ErrNodeExists, "NodeExists expected, got %v", err)

	catchUp(b, p)
	data, st, dataW, err := b.GetW(p)
	must(err, "getw")
	check(string(data) == "v0" && st.Version == 0, "get data %q v%d", data, st.Version)
	_, _, childW, err := b.ChildrenW(p)
	must(err, "childrenw")
	ok, _, existW, err := b.ExistsW(p + "/kid")
	must(err, "existsw")
	check(!ok, "kid must not exist")

	st2, err := a.Set(p, []byte("v1"), 0)
	must(err, "set")
	check(st2.Version == 1, "version after set %d", st2.Version)
	e := waitEvent(dataW, "data watch")
	check(e.Type == zk.EventNodeDataChanged && e.Path == p, "data event %+v", e)
	_, err = a.Set(p, []byte("v2"), 0)
	check(err == zk.ErrBadVersion, "BadVersion expected, got %v", err)
	// This go-zookeeper version also fires child watchers on NodeDataChanged
	// (client-side quirk), so drain that and re-arm the child watch.
	e = waitEvent(childW, "child watch (client fires it on data change)")
	check(e.Path == p, "child watch event %+v", e)
	_, _, childW, err = b.ChildrenW(p)
	must(err, "childrenw again")

	_, err = a.Create(p+"/kid", []byte("k"), 0, zk.WorldACL(zk.PermAll))
	must(err, "create kid")
	e = waitEvent(existW, "exist watch")
	check(e.Type == zk.EventNodeCreated && e.Path == p+"/kid", "created event %+v", e)
	e = waitEvent(childW, "child watch")
	check(e.Type == zk.EventNodeChildrenChanged && e.Path == p, "children event %+v", e)

	kids, st3, err := b.Children(p)
	must(err, "children")
	check(len(kids) == 1 && kids[0] == "kid" && st3.NumChildren == 1, "children %v", kids)
	err = a.Delete(p, -1)
	check(err == zk.ErrNotEmpty, "NotEmpty expected, got %v", err)
	_, _, delW, err := b.GetW(p + "/kid")
	must(err, "getw kid")
	must(a.Delete(p+"/kid", 0), "delete kid")
	e = waitEvent(delW, "delete watch")
	check(e.Type == zk.EventNodeDeleted, "deleted event %+v", e)
	_, _, err = b.Get(p + "/kid")
	check(err == zk.ErrNoNode, "NoNode expected, got %v", err)
	must(a.Delete(p, -1), "delete")
	s, err := a.Sync(root)
	must(err, "sync")
	check(s == root, "sync path %q", s)
	// sequential
	var seqs []string
	for i := 0; i < 3; i++ {
		s, err := a.Create(root+"/seq-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
		must(err, "create seq")
		seqs = append(seqs, s)
	}
	check(sort.StringsAreSorted(seqs) && seqs[0] != seqs[1], "sequence names %v", seqs)
}

func testMulti() {
	c := connect()
	defer c.Close()
	base := root + "/multi"
	_, err := c.Create(base, nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create base")
	res, err := c.Multi(
		&zk.CreateRequest{Path: base + "/a", Data: []byte("1"), Acl: zk.WorldACL(zk.PermAll)},
		&zk.CreateRequest{Path: base + "/b", Acl: zk.WorldACL(zk.PermAll)},
		&zk.SetDataRequest{Path: base + "/a", Data: []byte("2"), Version: 0},
		&zk.CheckVersionRequest{Path: base + "/a", Version: 1},
		&zk.DeleteRequest{Path: base + "/b", Version: 0},
	)
	must(err, "multi")
	check(len(res) == 5 && res[0].String == base+"/a", "multi results %+v", res)
	for i, r := range res {
		check(r.Error == nil, "multi op %d error %v", i, r.Error)
	}
	d, _, err := c.Get(base + "/a")
	must(err, "get a")
	check(string(d) == "2", "multi applied data %q", d)
	res, err = c.Multi(
		&zk.CreateRequest{Path: base + "/c", Acl: zk.WorldACL(zk.PermAll)},
		&zk.CheckVersionRequest{Path: base + "/a", Version: 99},
		&zk.DeleteRequest{Path: base + "/a", Version: -1},
	)
	check(err != nil, "failing multi must return an error")
	ok, _, _ := c.Exists(base + "/c")
	check(!ok, "failed multi must not create /c")
	ok, _, _ = c.Exists(base + "/a")
	check(ok, "failed multi must not delete /a")
	if len(res) == 3 {
		check(res[1].Error == zk.ErrBadVersion, "failing op error %v", res[1].Error)
	}
}

func testLock() {
	const nConns, perConn, iters = 3, 3, 4
	path := root + "/lock"
	var inside, maxInside, total int64
	var wg sync.WaitGroup
	errs := make(chan error, nConns*perConn)
	conns := make([]*zk.Conn, nConns)
	for i := range conns {
		conns[i] = connect()
		defer conns[i].Close()
	}
	for i := 0; i < nConns*perConn; i++ {
		wg.Add(1)
		go func(c *zk.Conn) {
			defer wg.Done()
			for j := 0; j < iters; j++ {
				l := zk.NewLock(c, path, zk.WorldACL(zk.PermAll))
				if err := l.Lock(); err != nil {
					errs <- err
					return
				}
				n := atomic.AddInt64(&inside, 1)
				for {
					m := atomic.LoadInt64(&maxInside)
					if n <= m || atomic.CompareAndSwapInt64(&maxInside, m, n) {
						break
					}
				}
				time.Sleep(time.Duration(rand.Intn(4)) * time.Millisecond)
				atomic.AddInt64(&inside, -1)
				atomic.AddInt64(&total, 1)
				if err := l.Unlock(); err != nil {
					errs <- err
					return
				}
			}
		}(conns[i%nConns])
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		check(false, "lock workers did not finish")
	}
	close(errs)
	for err := range errs {
		check(false, "lock error %v", err)
	}
	check(maxInside == 1, "mutual exclusion violated: max holders %d", maxInside)
	check(total == nConns*perConn*iters, "critical sections %d", total)
	// The last unlocks may have gone through other members of an ensemble: sync first.
	_, err := conns[0].Sync(path)
	must(err, "sync before listing lock children")
	kids, _, err := conns[0].Children(path)
	must(err, "lock children")
	check(len(kids) == 0, "lock nodes left behind %v", kids)

	// lock held by a session that closes is released
	holder := connect()
	l1 := zk.NewLock(holder, path, zk.WorldACL(zk.PermAll))
	must(l1.Lock(), "holder lock")
	got := make(chan error, 1)
	go func() { got <- zk.NewLock(conns[1], path, zk.WorldACL(zk.PermAll)).Lock() }()
	select {
	case <-got:
		check(false, "second lock acquired while held")
	case <-time.After(300 * time.Millisecond):
	}
	holder.Close()
	select {
	case err := <-got:
		must(err, "lock after holder closed")
	case <-time.After(wait):
		check(false, "lock not released by session close")
	}
}

func testEphemeralCleanup() {
	a, b := connect(), connect()
	defer b.Close()
	p := root + "/eph"
	_, err := a.Create(p, []byte("x"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(err, "create ephemeral")
	catchUp(b, p)
	_, st, w, err := b.GetW(p)
	must(err, "getw eph")
	check(st.EphemeralOwner == a.SessionID(), "ephemeralOwner %x vs session %x", st.EphemeralOwner, a.SessionID())
	_, err = a.Create(p+"/c", nil, 0, zk.WorldACL(zk.PermAll))
	check(err == zk.ErrNoChildrenForEphemerals, "NoChildrenForEphemerals expected, got %v", err)
	s, err := a.Create(root+"/es-", nil, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	must(err, "create eph seq")
	a.Close()
	e := waitEvent(w, "NodeDeleted on close")
	check(e.Type == zk.EventNodeDeleted && e.Path == p, "event %+v", e)
	ok, _, _ := b.Exists(s)
	check(!ok, "ephemeral sequential %s survived close", s)
}

func testACL() {
	a, b := connect(), connect()
	defer a.Close()
	defer b.Close()
	must(a.AddAuth("digest", []byte("alice:secret")), "addauth")
	p := root + "/acl"
	_, err := a.Create(p, []byte("s"), 0, zk.DigestACL(zk.PermAll, "alice", "secret"))
	must(err, "create acl")
	catchUp(b, p)
	_, _, err = b.Get(p)
	check(err == zk.ErrNoAuth, "NoAuth expected, got %v", err)
	d, _, err := a.Get(p)
	check(err == nil && string(d) == "s", "owner get %v", err)
	acl, _, err := a.GetACL(p)
	must(err, "getacl")
	check(len(acl) == 1 && acl[0].Scheme == "digest" && strings.HasPrefix(acl[0].ID, "alice:"), "acl %+v", acl)
	must(a.Delete(p, -1), "delete acl node")
}

// cutDialer lets the test sever the TCP connection and refuse reconnects.
type cutDialer struct {
	mu      sync.Mutex
	blocked bool
	conns   []net.Conn
}

func (d *cutDialer) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.blocked {
		return nil, errors.New("blocked by test")
	}
	c, err := net.DialTimeout(network, address, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) cut(block bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.blocked = block
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

func testSessionExpiry() {
	d := &cutDialer{}
	a, ev, err := zk.Connect(servers(), 4*time.Second, zk.WithDialer(d.dial), zk.WithLogger(quietLogger{}))
	must(err, "connect (expiry)")
	defer a.Close()
	for e := range ev {
		if e.State == zk.StateHasSession {
			break
		}
	}
	b := connect()
	defer b.Close()
	p := root + "/expire-me"
	_, err = a.Create(p, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(err, "create ephemeral (expiry)")
	catchUp(b, p)
	_, _, w, err := b.ExistsW(p)
	must(err, "existsw")
	d.cut(true) // no pings reach the server any more
	select {
	case e := <-w:
		check(e.Type == zk.EventNodeDeleted, "expiry event %+v", e)
	case <-time.After(20 * time.Second):
		check(false, "ephemeral not removed by session expiry within 20s")
	}
	d.cut(false)
	deadline := time.After(wait)
	for {
		select {
		case e := <-ev:
			if e.State == zk.StateExpired {
				return
			}
		case <-deadline:
			check(false, "client never saw StateExpired after reconnect")
		}
	}
}

func run(name string, f func()) (ok bool) {
	t0 := time.Now()
	defer func() {
		if r := recover(); r != nil {
			if fl, isF := r.(failure); isF {
				fmt.Printf("FAIL %-22s %s\n", name, fl.msg)
			} else {
				fmt.Printf("FAIL %-22s panic: %v\n", name, r)
			}
			ok = false
		}
	}()
	f()
	fmt.Printf("ok   %-22s %.2fs\n", name, time.Since(t0).Seconds())
	return true
}

func main() {
	flag.Parse()
	if *hosts == "" {
		fmt.Println("FAIL: --hosts required")
		os.Exit(2)
	}
	if *failoverDir != "" {
		if !run("failover", testFailover) {
			os.Exit(1)
		}
		return
	}
	rand.Seed(time.Now().UnixNano())
	root = fmt.Sprintf("/gozk-%08x", rand.Uint32())
	failed := 0
	if !run("setup", func() {
		c := connect()
		defer c.Close()
		_, err := c.Create(root, nil, 0, zk.WorldACL(zk.PermAll))
		must(err, "create root")
	}) {
		os.Exit(1)
	}
	tests := []struct {
		name string
		f    func()
	}{
		{"crud+watches", testCRUDWatches},
		{"multi", testMulti},
		{"lock", testLock},
		{"ephemeral-cleanup", testEphemeralCleanup},
		{"acl", testACL},
	}
	if !*skipExpiry {
		tests = append(tests, struct {
			name string
			f    func()
		}{"session-expiry", testSessionExpiry})
	}
	for _, t := range tests {
		if !run(t.name, t.f) {
			failed++
		}
	}
	fmt.Printf("go-zookeeper: %d tests, %d checks, %d failed\n", len(tests), atomic.LoadInt64(&checks), failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// orderedHosts tries the servers in --hosts order (go-zookeeper shuffles the list before
// it reaches a HostProvider, so Init ignores its argument), so the test knows which member
// the session starts on.
type orderedHosts struct {
	servers []string
	next    int
	tried   int
}

func (h *orderedHosts) Init([]string) error { h.servers = servers(); return nil }
func (h *orderedHosts) Len() int            { return len(h.servers) }
func (h *orderedHosts) Next() (string, bool) {
	s := h.servers[h.next]
	h.next = (h.next + 1) % len(h.servers)
	h.tried++
	return s, h.tried > len(h.servers)
}
func (h *orderedHosts) Connected() { h.tried = 0 }

// retryOp retries an operation through an election (connection closed / lost).
func retryOp(what string, f func() error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		check(time.Now().Before(deadline), "%s: %v", what, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// testFailover: one session on the follower listed first; kill -9 that follower, then
// (after the driver restarted it) the leader. The session and its ephemeral survive, and
// watches set before each crash fire after it (go-zookeeper re-arms them with SetWatches).
func testFailover() {
	c, ev, err := zk.Connect(servers(), 10*time.Second, zk.WithLogger(quietLogger{}), zk.WithHostProvider(&orderedHosts{}))
	must(err, "connect")
	defer c.Close()
	states := make(chan zk.State, 256)
	go func() {
		for e := range ev {
			if e.Type == zk.EventSession {
				select {
				case states <- e.State:
				default:
				}
			}
		}
	}()
	waitState := func(want zk.State, what string) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case s := <-states:
				check(s != zk.StateExpired, "%s: session expired", what)
				if s == want {
					return
				}
			case <-deadline:
				check(false, "%s: no %v within 30s", what, want)
			}
		}
	}
	waitState(zk.StateHasSession, "connect")
	sid := c.SessionID()
	other, oev, err := zk.Connect(servers(), 10*time.Second, zk.WithLogger(quietLogger{}))
	must(err, "connect other")
	defer other.Close()
	go func() {
		for range oev {
		}
	}()
	acl := zk.WorldACL(zk.PermAll)
	_, err = c.Create("/gofo-eph", nil, zk.FlagEphemeral, acl)
	must(err, "create ephemeral")
	_, err = c.Create("/gofo-w", []byte("0"), 0, acl)
	must(err, "create /gofo-w")
	_, err = c.Create("/gofo-kids", nil, 0, acl)
	must(err, "create /gofo-kids")
	_, _, dataW, err := c.GetW("/gofo-w")
	must(err, "getw")
	_, _, existW, err := c.ExistsW("/gofo-x")
	must(err, "existsw")
	_, _, childW, err := c.ChildrenW("/gofo-kids")
	must(err, "childrenw")
	fmt.Println("connected to", c.Server())
	check(c.Server() == servers()[0], "connected to %s, not the first host %s", c.Server(), servers()[0])

	crash := func(pid int, what string) {
		check(syscall.Kill(pid, syscall.SIGKILL) == nil, "kill %s", what)
		waitState(zk.StateDisconnected, what+" crash noticed")
		waitState(zk.StateHasSession, what+" crash: reconnected")
		check(c.SessionID() == sid, "%s crash: session changed", what)
		retryOp("exists ephemeral", func() error {
			ok, _, err := other.Exists("/gofo-eph")
			if err == nil && !ok {
				check(false, "%s crash: ephemeral lost", what)
			}
			return err
		})
	}
	expect := func(ch <-chan zk.Event, t zk.EventType, what string) {
		select {
		case e := <-ch:
			check(e.Type == t, "%s: got %+v", what, e)
		case <-time.After(15 * time.Second):
			check(false, "%s: watch set before the crash never fired", what)
		}
	}

	crash(*followerPid, "follower")
	fmt.Println("after the follower crash: on", c.Server())
	retryOp("set /gofo-w", func() error { _, err := other.Set("/gofo-w", []byte("1"), -1); return err })
	retryOp("create /gofo-x", func() error {
		_, err := other.Create("/gofo-x", nil, 0, acl)
		if err == zk.ErrNodeExists {
			return nil
		}
		return err
	})
	expect(dataW, zk.EventNodeDataChanged, "data watch")
	expect(existW, zk.EventNodeCreated, "exists watch")

	f, err := os.Create(*failoverDir + "/killed1")
	must(err, "handoff file")
	f.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(*failoverDir + "/go2"); err == nil {
			break
		}
		check(time.Now().Before(deadline), "no go2 from the test")
		if _, err := os.Stat(*failoverDir + "/abort"); err == nil {
			check(false, "the test aborted")
		}
		time.Sleep(50 * time.Millisecond)
	}

	crash(*leaderPid, "leader")
	retryOp("create child", func() error {
		_, err := other.Create("/gofo-kids/a", nil, 0, acl)
		if err == zk.ErrNodeExists {
			return nil
		}
		return err
	})
	expect(childW, zk.EventNodeChildrenChanged, "child watch")
}
