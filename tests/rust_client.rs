//! The real zkserver binary driven by a third-party Rust client (the `zookeeper-client`
//! crate): basic ops, watches, ephemerals on session close, multi, and its Curator-style
//! lock under contention.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::standalone::Standalone;
use zookeeper_client as zk;

/// A standalone zkserver with every four-letter word allowed and `extra` zoo.cfg lines.
fn start_server(extra: &str) -> Standalone {
    Standalone::start(
        "rust-client",
        500,
        &format!("4lw.commands.whitelist=*\n{extra}"),
    )
}

fn opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

async fn connect(port: u16) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .connect(&format!("127.0.0.1:{port}"))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_ops_watches_and_ephemerals() {
    let server = start_server("");
    let client = connect(server.port()).await;

    let (_, exist_watcher) = client
        .check_and_watch_stat("/app")
        .await
        .expect("exists watch");
    let (stat, _) = client.create("/app", b"v1", &opts()).await.expect("create");
    assert_eq!(stat.version, 0);
    let ev = tokio::time::timeout(Duration::from_secs(5), exist_watcher.changed())
        .await
        .expect("event");
    assert_eq!(ev.event_type, zk::EventType::NodeCreated);
    assert_eq!(ev.path, "/app");

    let (data, stat2) = client.get_data("/app").await.expect("get");
    assert_eq!(data, b"v1");
    assert_eq!(stat, stat2);

    let (_, _, data_watcher) = client.get_and_watch_data("/app").await.expect("data watch");
    let stat3 = client.set_data("/app", b"v2", Some(0)).await.expect("set");
    assert_eq!(stat3.version, 1);
    let ev = tokio::time::timeout(Duration::from_secs(5), data_watcher.changed())
        .await
        .expect("event");
    assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);
    assert!(matches!(
        client.set_data("/app", b"v3", Some(0)).await,
        Err(zk::Error::BadVersion)
    ));

    // Registration: an ephemeral of another session disappears when that session closes,
    // and a child watch sees it go.
    let member = connect(server.port()).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    member
        .create("/app/member-1", b"", &eph)
        .await
        .expect("ephemeral");
    let (children, _, child_watcher) = client
        .get_and_watch_children("/app")
        .await
        .expect("children");
    assert_eq!(children, vec!["member-1".to_string()]);
    drop(member);
    let ev = tokio::time::timeout(Duration::from_secs(10), child_watcher.changed())
        .await
        .expect("event");
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    assert!(client.list_children("/app").await.expect("ls").is_empty());

    // Sequential names come from the parent's cversion.
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, s1) = client.create("/app/job-", b"", &seq).await.expect("seq");
    let (_, s2) = client.create("/app/job-", b"", &seq).await.expect("seq");
    assert!(s2.into_i64() > s1.into_i64());

    // Multi: all or nothing.
    let mut w = client.new_multi_writer();
    w.add_create("/app/m1", b"", &opts()).expect("op");
    w.add_create("/app/m1", b"", &opts()).expect("op");
    assert!(w.commit().await.is_err());
    assert!(client.check_stat("/app/m1").await.expect("stat").is_none());

    assert!(matches!(
        client.delete("/app", None).await,
        Err(zk::Error::NotEmpty)
    ));
    assert!(matches!(
        client.get_data("/nope").await,
        Err(zk::Error::NoNode)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_lock_gives_mutual_exclusion() {
    let server = start_server("");
    let setup = connect(server.port()).await;
    setup.create("/locks", b"", &opts()).await.expect("parent");
    let holders = Arc::new(AtomicUsize::new(0));
    let entries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let port = server.port();
        let holders = holders.clone();
        let entries = entries.clone();
        tasks.push(tokio::spawn(async move {
            let client = connect(port).await;
            for _ in 0..5 {
                let prefix = zk::LockPrefix::new_curator("/locks", "lock-").expect("prefix");
                let lock = client
                    .lock(prefix, b"", zk::LockOptions::new(zk::Acls::anyone_all()))
                    .await
                    .expect("lock");
                assert_eq!(
                    holders.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
                holders.fetch_sub(1, Ordering::SeqCst);
                entries.fetch_add(1, Ordering::SeqCst);
                drop(lock);
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("lock round finished in time")
            .expect("task");
    }
    assert_eq!(entries.load(Ordering::SeqCst), 20);
}
