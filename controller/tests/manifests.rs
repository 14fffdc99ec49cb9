//! The manifests source: recursive multi-document reading, last-good-objects on a bad file,
//! hidden entries skipped, and the watcher picking up a change.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sluice_controller::manifests::{self, ManifestSource, Settle};

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
fn an_object_defined_twice_is_taken_from_the_first_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), service("dup")).expect("write");
    fs::write(dir.path().join("b.yaml"), service("dup").replace("port: 80", "port: 81")).expect("write");
    let mut source = ManifestSource::new(dir.path());
    source.scan().expect("scan");
    let snapshot = source.snapshot();
    let dup = &snapshot.services[&("ns".to_owned(), "dup".to_owned())];
    let ports = dup.spec.as_ref().and_then(|s| s.ports.as_ref()).expect("ports");
    assert_eq!(ports[0].port, 80, "a.yaml sorts first and keeps the object");
    assert_eq!(snapshot.services.len(), 1);
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

#[test]
fn an_unchanged_folder_is_not_read_again_until_the_periodic_rescan() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), service("a")).expect("write");
    let mut source = ManifestSource::new(dir.path());
    source.scan().expect("scan");
    let (tx, rx) = mpsc::channel();
    let handle = manifests::watch(source, move |_, _| {
        let _ = tx.send(());
    })
    .expect("watch");
    fs::write(dir.path().join("b.yaml"), service("b")).expect("write");
    rx.recv_timeout(Duration::from_secs(5)).expect("the change is seen");
    let after_change = handle.scans.load(std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(600));
    // The scan's own reads of the files are file-system events; they must not trigger scans.
    let scans = handle.scans.load(std::sync::atomic::Ordering::Relaxed) - after_change;
    assert!(scans <= 1, "{scans} scans of an unchanged folder in 0.6 s");
}

const MS: Duration = Duration::from_millis(1);

/// A source over `dir` after its first load, and the instant to count from.
fn loaded(dir: &Path) -> (ManifestSource, Instant) {
    let mut source = ManifestSource::new(dir);
    source.scan().expect("scan");
    (source, Instant::now())
}

fn poll(source: &mut ManifestSource, at: Instant) -> manifests::Scan {
    source.poll_at(at, Settle::DEFAULT).expect("poll")
}

#[test]
fn a_file_truncated_for_rewriting_keeps_serving_until_its_new_content_settles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("svc.yaml");
    fs::write(&file, service("old")).expect("write");
    let (mut source, t0) = loaded(dir.path());
    // `> file`: truncated first...
    fs::write(&file, "").expect("truncate");
    for at in [0, 60, 500, 900] {
        let scan = poll(&mut source, t0 + at * MS);
        assert!(!scan.changed, "an emptied file is still being written at +{at} ms");
        assert_eq!(scan.settling, 1);
        assert_eq!(names(&source), ["old"]);
    }
    // ...then written, a prefix first: only a read that a later one confirms is used.
    let full = format!("{}---\n{}", service("new1"), service("new2"));
    fs::write(&file, &full[..full.len() / 2 + 10]).expect("prefix");
    assert!(!poll(&mut source, t0 + 950 * MS).changed);
    fs::write(&file, &full).expect("rest");
    let scan = poll(&mut source, t0 + 980 * MS);
    assert!(!scan.changed, "new bytes wait {:?}", Settle::DEFAULT.changed);
    assert_eq!(scan.next_check, Some(t0 + 980 * MS + Settle::DEFAULT.changed));
    assert_eq!(names(&source), ["old"]);
    let scan = poll(&mut source, t0 + 1030 * MS);
    assert!(scan.changed && scan.settling == 0);
    assert_eq!(names(&source), ["new1", "new2"]);
}

#[test]
fn an_emptied_or_deleted_file_is_applied_after_the_longer_settle_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), service("a")).expect("write");
    fs::write(dir.path().join("b.yaml"), service("b")).expect("write");
    let (mut source, t0) = loaded(dir.path());
    fs::write(dir.path().join("a.yaml"), "# nothing here any more\n").expect("empty");
    fs::remove_file(dir.path().join("b.yaml")).expect("rm");
    let scan = poll(&mut source, t0);
    assert_eq!((scan.changed, scan.settling), (false, 2));
    assert_eq!(scan.next_check, Some(t0 + Settle::DEFAULT.emptied));
    assert!(!poll(&mut source, t0 + 999 * MS).changed);
    assert_eq!(names(&source), ["a", "b"]);
    assert!(poll(&mut source, t0 + 1000 * MS).changed);
    assert!(names(&source).is_empty(), "emptied and deleted on purpose: the objects are withdrawn");
}

#[test]
fn a_file_deleted_and_recreated_never_leaves_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("svc.yaml");
    fs::write(&file, service("a")).expect("write");
    let (mut source, t0) = loaded(dir.path());
    fs::remove_file(&file).expect("rm");
    assert!(!poll(&mut source, t0).changed);
    fs::write(&file, service("a")).expect("recreate");
    let scan = poll(&mut source, t0 + 300 * MS);
    assert_eq!((scan.changed, scan.settling), (false, 0), "the same bytes again: nothing to do");
    fs::remove_file(&file).expect("rm");
    assert!(!poll(&mut source, t0 + 400 * MS).changed);
    fs::write(&file, service("a2")).expect("recreate");
    assert!(!poll(&mut source, t0 + 450 * MS).changed);
    assert_eq!(names(&source), ["a"]);
    assert!(poll(&mut source, t0 + 500 * MS).changed);
    assert_eq!(names(&source), ["a2"]);
}

#[test]
fn a_renamed_in_file_and_a_configmap_data_swap_are_used_after_the_short_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount = |version: &str, name: &str| {
        let data = dir.path().join(format!("..{version}"));
        fs::create_dir(&data).expect("mkdir");
        fs::write(data.join("svc.yaml"), service(name)).expect("write");
        let link = dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&data, &link).expect("link");
        fs::rename(&link, dir.path().join("..data")).expect("swap");
    };
    mount("v1", "one");
    std::os::unix::fs::symlink(dir.path().join("..data/svc.yaml"), dir.path().join("svc.yaml"))
        .expect("link");
    fs::write(dir.path().join(".tmp"), service("renamed")).expect("write");
    fs::rename(dir.path().join(".tmp"), dir.path().join("other.yaml")).expect("rename");
    let (mut source, t0) = loaded(dir.path());
    assert_eq!(names(&source), ["one", "renamed"]);
    mount("v2", "two");
    assert!(!poll(&mut source, t0).changed);
    assert!(poll(&mut source, t0 + Settle::DEFAULT.changed).changed);
    assert_eq!(names(&source), ["renamed", "two"]);
}

#[test]
fn an_edit_spread_over_several_files_lands_in_one_scan_and_a_busy_file_holds_nothing_for_long() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    fs::write(&a, service("a1")).expect("write");
    fs::write(&b, service("b1")).expect("write");
    let (mut source, t0) = loaded(dir.path());
    fs::write(&a, service("a2")).expect("write");
    assert!(!poll(&mut source, t0).changed);
    fs::write(&b, service("b2")).expect("write");
    assert!(!poll(&mut source, t0 + 30 * MS).changed);
    let scan = poll(&mut source, t0 + 50 * MS);
    assert!(!scan.changed, "a.yaml has settled but b.yaml, written with it, has not");
    assert_eq!(names(&source), ["a1", "b1"]);
    assert!(poll(&mut source, t0 + 80 * MS).changed);
    assert_eq!(names(&source), ["a2", "b2"], "both files in one table");

    // A file that never stops changing holds the others back for 200 ms at most.
    fs::write(&a, service("a3")).expect("write");
    let t1 = t0 + 1000 * MS;
    for step in 0..=7 {
        fs::write(&b, service(&format!("busy{step}"))).expect("write");
        let scan = poll(&mut source, t1 + step * 40 * MS);
        assert_eq!(scan.changed, step * 40 >= 250, "at +{} ms", step * 40);
    }
    assert_eq!(names(&source), ["a3", "b2"]);
}

#[test]
fn a_file_the_watcher_saw_renamed_into_place_is_used_at_once_unless_it_lost_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    fs::write(&a, service("a1")).expect("write");
    fs::write(&b, service("b1")).expect("write");
    let (mut source, t0) = loaded(dir.path());
    let renamed: BTreeSet<PathBuf> = [a.clone()].into();
    // Complete by construction: no settle window, even if a poll without the event saw it first.
    fs::write(&a, service("a2")).expect("write");
    assert!(!poll(&mut source, t0).changed);
    let scan = source.poll_renamed_at(t0 + MS, Settle::DEFAULT, &renamed).expect("poll");
    assert_eq!((scan.changed, scan.settling), (true, 0));
    assert_eq!(names(&source), ["a2", "b1"]);
    // A file the event did not name still settles.
    fs::write(&b, service("b2")).expect("write");
    assert!(!source.poll_renamed_at(t0 + 2 * MS, Settle::DEFAULT, &renamed).expect("poll").changed);
    assert_eq!(names(&source), ["a2", "b1"]);
    // Renamed in empty: still the long window before its objects are withdrawn.
    fs::write(&a, "# emptied\n").expect("write");
    let scan = source.poll_renamed_at(t0 + 100 * MS, Settle::DEFAULT, &renamed).expect("poll");
    assert_eq!(scan.next_check, Some(t0 + 100 * MS + Settle::DEFAULT.emptied));
    assert!(names(&source).contains(&"a2".to_owned()));
}

#[test]
fn the_watcher_applies_a_rename_into_place_in_the_scan_its_event_triggers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("svc.yaml");
    fs::write(&file, service("old")).expect("write");
    let mut source = ManifestSource::new(dir.path());
    source.scan().expect("scan");
    let (tx, rx) = mpsc::channel();
    let handle = manifests::watch(source, move |snapshot, _| {
        let _ = tx.send(snapshot.services.keys().map(|(_, n)| n.clone()).collect::<Vec<_>>());
    })
    .expect("watch");
    // Write a temporary file and let the scan its events trigger pass, then rename it in.
    let tmp = dir.path().join(".svc.yaml.tmp");
    fs::write(&tmp, service("new")).expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let before = handle.scans.load(std::sync::atomic::Ordering::Relaxed);
    fs::rename(&tmp, &file).expect("rename");
    let names = rx.recv_timeout(Duration::from_secs(5)).expect("the change is seen");
    let scans = handle.scans.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert_eq!(names, ["new"]);
    // Without the rename rule, the first scan finds the bytes settling and a second uses them.
    assert_eq!(scans, 1, "the new content landed in the first scan after the rename");
}
