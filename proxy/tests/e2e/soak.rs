//! The soak at CI size: steady keepalive and TLS load while every kind of change lands (Ingress
//! edits in place and by rename, Service port changes, EndpointSlice churn with terminating and
//! not-ready endpoints, TLS Secret rotation, ConfigMap edits, an Ingress deleted and
//! re-created). Not one request may fail, every change must go live, and the log must hold no
//! ERROR line. `loadtest/run.sh soak` runs the same harness at 1,000 changes and more.

use sluice_loadtest::soak::{self, Config};

#[test]
fn no_request_fails_while_every_kind_of_change_lands() {
    let work = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(env!("CARGO_BIN_EXE_sluice").into(), work.path().to_owned());
    config.changes = 8 * 30;
    config.connections = 4;
    config.block = 78;
    config.limit = std::time::Duration::from_secs(300);
    let report = soak::run(&config).expect("soak runs");
    eprint!("{}", soak::markdown(&report));
    assert_eq!(report.changes_applied, config.changes, "every change goes live: {report:?}");
    assert!(report.http.ok > 1000 && report.tls.ok > 10, "the load ran: {report:?}");
    assert_eq!(report.failed(), 0, "failed requests: {:?} {:?}", report.http, report.tls);
    assert_eq!(report.by_kind.len(), soak::Kind::ALL.len(), "every kind of change was applied");
    assert_eq!(report.error_lines, 0, "ERROR lines in a clean run: {:?}", report.error_samples);
}
