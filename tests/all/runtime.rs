//! The runtime's compiled-code cache. The first start compiles the component and stores it,
//! keyed by the component's hash and the engine, and the next start loads it.

use std::sync::Arc;

use smsnode_host::config::Limits;
use smsnode_host::imports::NodeHost;
use smsnode_host::outbound::OutboundPolicy;
use smsnode_host::runtime::Runtime;

fn cached_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok()).filter(|name| name.ends_with(".cwasm")).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_code_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Arc::new(OutboundPolicy::default());

    let first = Runtime::new(smsnode_host::DEFAULT_PLUGIN, &Limits::default(), policy.clone(), Some(dir.path())).unwrap();
    let files = cached_files(dir.path());
    assert_eq!(files.len(), 1, "one compiled component: {files:?}");
    assert!(files[0].starts_with(&first.component_hash[..32]), "named by the component's hash: {files:?}");

    let second = Runtime::new(smsnode_host::DEFAULT_PLUGIN, &Limits::default(), policy, Some(dir.path())).unwrap();
    assert_eq!(cached_files(dir.path()), files, "the second start reuses the entry");

    let host = || NodeHost {
        node_type: "test".into(),
        call: smsnode_host::store::CallRecord::detached(),
        config: Arc::new(smsnode_host::config::HostConfig::parse("", std::path::Path::new(".")).unwrap()),
        store: Arc::new(smsnode_host::store::Store::open_in_memory().unwrap()),
    };
    let descriptor = second.describe(host()).await.expect("the cached code runs");
    assert_eq!(descriptor.node_type, "smsnode.sms");
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_cache_entry_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Arc::new(OutboundPolicy::default());
    drop(Runtime::new(smsnode_host::DEFAULT_PLUGIN, &Limits::default(), policy.clone(), Some(dir.path())).unwrap());
    let entry = dir.path().join(&cached_files(dir.path())[0]);
    std::fs::write(&entry, b"not compiled code").unwrap();

    let runtime = Runtime::new(smsnode_host::DEFAULT_PLUGIN, &Limits::default(), policy, Some(dir.path()));
    assert!(runtime.is_ok(), "a bad entry is ignored and the component compiled again");
    assert!(std::fs::read(&entry).unwrap().len() > 1000, "the entry was rewritten");
}
