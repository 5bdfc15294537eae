/*
 * The ZooKeeper C client (libzookeeper_mt, Debian's libzookeeper-mt-dev) against a server:
 * handshake, create (plain, ephemeral, sequential), get/set with versions, exists and data
 * watches, children, multi (success and rollback), ACL with digest auth, delete, close.
 * Usage: c_client HOST:PORT. Exit 0 when every check passed; prints each failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

static int failures = 0;
static int checks = 0;
#define CHECK(cond, ...) do { checks++; if (!(cond)) { failures++; \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
    fprintf(stderr, "\n"); } } while (0)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected = 0;
static int events[16];
static char event_paths[16][64];
static int nevents = 0;

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh; (void)ctx;
    pthread_mutex_lock(&mu);
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) connected = 1;
    } else if (nevents < 16) {
        events[nevents] = type;
        snprintf(event_paths[nevents], sizeof event_paths[nevents], "%s", path ? path : "");
        nevents++;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits up to 5 s for `want` events in total. */
static int wait_events(int want) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&mu);
    while (nevents < want) {
        if (pthread_cond_timedwait(&cv, &mu, &ts) != 0) break;
    }
    int n = nevents;
    pthread_mutex_unlock(&mu);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]); return 2; }
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zhandle_t *zh = zookeeper_init(argv[1], watcher, 10000, 0, 0, 0);
    CHECK(zh != NULL, "zookeeper_init");
    if (!zh) return 1;
    for (int i = 0; i < 100 && !connected; i++) usleep(50000);
    CHECK(connected, "connected within 5 s");
    CHECK(zoo_client_id(zh)->client_id != 0, "session id assigned");

    char buf[256];
    int rc = zoo_create(zh, "/cc", "v0", 2, &ZOO_OPEN_ACL_UNSAFE, 0, buf, sizeof buf);
    CHECK(rc == ZOK && strcmp(buf, "/cc") == 0, "create /cc: %s", zerror(rc));
    rc = zoo_create(zh, "/cc", "v0", 2, &ZOO_OPEN_ACL_UNSAFE, 0, buf, sizeof buf);
    CHECK(rc == ZNODEEXISTS, "create /cc again: %s", zerror(rc));
    rc = zoo_create(zh, "/nope/x", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, buf, sizeof buf);
    CHECK(rc == ZNONODE, "create under missing parent: %s", zerror(rc));
    rc = zoo_create(zh, "/cc/s-", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE | ZOO_EPHEMERAL, buf, sizeof buf);
    CHECK(rc == ZOK && strcmp(buf, "/cc/s-0000000000") == 0, "ephemeral sequential: %s %s", zerror(rc), buf);

    /* get + data watch, then set fires NodeDataChanged */
    struct Stat st;
    int len = sizeof buf;
    rc = zoo_wget(zh, "/cc", watcher, NULL, buf, &len, &st);
    CHECK(rc == ZOK && len == 2 && memcmp(buf, "v0", 2) == 0 && st.version == 0, "wget: %s", zerror(rc));
    rc = zoo_set(zh, "/cc", "v1", 2, 0);
    CHECK(rc == ZOK, "set v0->v1: %s", zerror(rc));
    rc = zoo_set(zh, "/cc", "v2", 2, 0);
    CHECK(rc == ZBADVERSION, "set with stale version: %s", zerror(rc));
    CHECK(wait_events(1) >= 1 && events[0] == ZOO_CHANGED_EVENT && strcmp(event_paths[0], "/cc") == 0,
          "NodeDataChanged on /cc");

    /* exists watch on a missing node fires NodeCreated */
    rc = zoo_wexists(zh, "/cc/later", watcher, NULL, &st);
    CHECK(rc == ZNONODE, "wexists missing: %s", zerror(rc));
    rc = zoo_create(zh, "/cc/later", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, buf, sizeof buf);
    CHECK(rc == ZOK, "create /cc/later: %s", zerror(rc));
    CHECK(wait_events(2) >= 2 && events[1] == ZOO_CREATED_EVENT, "NodeCreated on /cc/later");

    struct String_vector children;
    rc = zoo_get_children(zh, "/cc", 0, &children);
    CHECK(rc == ZOK && children.count == 2, "children of /cc: %s count=%d", zerror(rc), children.count);
    if (rc == ZOK) deallocate_String_vector(&children);

    /* multi: all or nothing */
    zoo_op_t ops[2];
    zoo_op_result_t results[2];
    char p1[64], p2[64];
    zoo_create_op_init(&ops[0], "/cc/m1", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, p1, sizeof p1);
    zoo_create_op_init(&ops[1], "/cc/m1", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, p2, sizeof p2);
    rc = zoo_multi(zh, 2, ops, results);
    CHECK(rc == ZNODEEXISTS && results[0].err == ZOK && results[1].err == ZNODEEXISTS,
          "failing multi: %s [%d %d]", zerror(rc), results[0].err, results[1].err);
    rc = zoo_exists(zh, "/cc/m1", 0, &st);
    CHECK(rc == ZNONODE, "nothing of a failed multi applied: %s", zerror(rc));
    zoo_create_op_init(&ops[0], "/cc/m1", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, p1, sizeof p1);
    zoo_set_op_init(&ops[1], "/cc", "v9", 2, 1, NULL);
    rc = zoo_multi(zh, 2, ops, results);
    CHECK(rc == ZOK && results[0].err == ZOK && results[1].err == ZOK, "multi: %s", zerror(rc));

    /* digest ACL: only the creator's identity may read */
    rc = zoo_add_auth(zh, "digest", "alice:secret", 12, NULL, NULL);
    CHECK(rc == ZOK, "add_auth: %s", zerror(rc));
    usleep(200000);
    rc = zoo_create(zh, "/cc/secret", "s", 1, &ZOO_CREATOR_ALL_ACL, 0, buf, sizeof buf);
    CHECK(rc == ZOK, "create with CREATOR_ALL_ACL: %s", zerror(rc));
    struct ACL_vector acl;
    rc = zoo_get_acl(zh, "/cc/secret", &acl, &st);
    CHECK(rc == ZOK && acl.count == 1 && strcmp(acl.data[0].id.scheme, "digest") == 0 &&
          strcmp(acl.data[0].id.id, "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=") == 0,
          "getACL shows the digest id: %s", zerror(rc));
    if (rc == ZOK) deallocate_ACL_vector(&acl);

    zhandle_t *other = zookeeper_init(argv[1], NULL, 10000, 0, 0, 0);
    for (int i = 0; i < 100 && zoo_state(other) != ZOO_CONNECTED_STATE; i++) usleep(50000);
    len = sizeof buf;
    rc = zoo_get(other, "/cc/secret", 0, buf, &len, &st);
    CHECK(rc == ZNOAUTH, "another session without auth: %s", zerror(rc));
    zookeeper_close(other);

    rc = zoo_delete(zh, "/cc", -1);
    CHECK(rc == ZNOTEMPTY, "delete non-empty: %s", zerror(rc));
    rc = zookeeper_close(zh);
    CHECK(rc == ZOK, "close: %s", zerror(rc));

    /* The ephemeral went with the session. */
    zhandle_t *z2 = zookeeper_init(argv[1], NULL, 10000, 0, 0, 0);
    for (int i = 0; i < 100 && zoo_state(z2) != ZOO_CONNECTED_STATE; i++) usleep(50000);
    rc = zoo_exists(z2, "/cc/s-0000000000", 0, &st);
    CHECK(rc == ZNONODE, "ephemeral removed at close: %s", zerror(rc));
    zookeeper_close(z2);

    printf("c client: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
