//! The manifests source: recursive multi-document reading, last-good-objects on a bad file,
//! hidden entries skipped, and the watcher picking up a change.

use std::fs;
use std::sync::mpsc;
use std::time::Duration;

use sluice_controller::manifests::{self, ManifestSource};

fn service(name: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: ns\nspec:\n  ports: [{{port: 80}}]\n")
}

fn names(source: &ManifestSource) -> Vec<String> {
    source.snapshot().services.keys().map(|(_, n)| n.clone()).collect()
}

#[test]
fn a_bad_file_keeps_its_last_good_objects_until_it_parses_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    fs::write(dir.path().join("a.yaml"), service("a")).expect("write");
    fs::write(dir.path().join("sub/b.yml"), format!("{}---\n{}", service("b1"), service("b2")))
        .expect("write");
    fs::write(dir.path().join("notes.txt"), service("ignored")).expect("write");
    let mut source = ManifestSource::new(dir.path());
    let scan = source.scan().expect("scan");
    assert!(scan.changed && scan.failed.is_empty());
    assert_eq!(names(&source), ["a", "b1", "b2"]);

    fs::write(dir.path().join("sub/b.yml"), format!("{}---\nkind: [unclosed\n", service("b3")))
        .expect("write");
    let scan = source.scan().expect("scan");
    assert_eq!(scan.failed.len(), 1);
    assert!(scan.failed[0].0.ends_with("sub/b.yml"));
    assert_eq!(scan.failed[0].1.document, 2);
    assert_eq!(names(&source), ["a", "b1", "b2"], "the bad file's last good objects keep serving");

    fs::write(dir.path().join("sub/b.yml"), service("b3")).expect("write");
    let scan = source.scan().expect("scan");
    assert!(scan.changed && scan.failed.is_empty());
    assert_eq!(names(&source), ["a", "b3"]);

    fs::remove_file(dir.path().join("a.yaml")).expect("rm");
    assert!(source.scan().expect("scan").changed);
    assert_eq!(names(&source), ["b3"]);
}

#[test]
fn hidden_entries_are_skipped_so_configmap_mounts_are_read_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("..2026_11_23_data");
    fs::create_dir(&data).expect("mkdir");
    fs::write(data.join("svc.yaml"), service("once")).expect("write");
    std::os::unix::fs::symlink(&data, dir.path().join("..data")).expect("link");
    std::os::unix::fs::symlink(dir.path().join("..data/svc.yaml"), dir.path().join("svc.yaml"))
        .expect("link");
    let mut source = ManifestSource::new(dir.path());
    source.scan().expect("scan");
    assert_eq!(names(&source), ["once"]);
}

#[test]
fn an_unreadable_folder_is_an_error_not_an_empty_table() {
    let mut source = ManifestSource::new("/nonexistent/sluice-manifests");
    assert!(source.scan().is_err());
}

#[test]
fn the_watcher_delivers_a_new_snapshot_after_a_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), service("a")).expect("write");
    let mut source = ManifestSource::new(dir.path());
    source.scan().expect("scan");
    let (tx, rx) = mpsc::channel();
    let _handle = manifests::watch(source, move |snapshot, _| {
        let _ = tx.send(snapshot.services.len());
    })
    .expect("watch");
    fs::write(dir.path().join("b.yaml"), service("b")).expect("write");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).expect("a snapshot within 5 s"), 2);
}
