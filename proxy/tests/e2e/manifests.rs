//! A malformed manifest: a clear warning, the other files keep routing (and keep updating),
//! the bad file's last good routes keep serving, and fixing it applies it.

use std::time::Duration;

use super::support::{ingress, ingress_class, manifests, service, wait_until, Backends, Sluice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_file_is_reported_and_nothing_that_was_serving_is_lost() {
    let blue = Backends::start("blue", &["127.0.0.7"]).await;
    let green = Backends::start("green", &["127.0.0.8"]).await;
    let services = [
        service("blue", blue.port, &["127.0.0.7"], true),
        service("green", green.port, &["127.0.0.8"], true),
    ]
    .join("---\n");
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("services.yaml", services),
        ("a.yaml", ingress("a", "a.test", &[("Prefix", "/", "blue")])),
        ("b.yaml", ingress("b", "b.test", &[("Prefix", "/", "green")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let backend = |host: &'static str| {
        let c = c.clone();
        async move { c.echo(host, "/").await.map(|e| e.backend) }
    };
    assert_eq!(backend("b.test").await.as_deref(), Some("green"));

    // b.yaml breaks in its second document (its first would move b.test to blue).
    let broken =
        format!("{}---\nspec: [this is: not valid\n", ingress("b", "b.test", &[("Prefix", "/", "blue")]));
    sluice.write("b.yaml", &broken);
    let warned = wait_until(Duration::from_secs(5), || async {
        let log = sluice.stderr();
        log.contains("Manifest file rejected") && log.contains("b.yaml") && log.contains("document=2")
    })
    .await;
    assert!(warned, "no clear warning; stderr:\n{}", sluice.stderr());
    assert_eq!(backend("b.test").await.as_deref(), Some("green"), "the last good b.yaml keeps serving");
    assert_eq!(backend("a.test").await.as_deref(), Some("blue"));
    let flagged = wait_until(Duration::from_secs(5), || async {
        sluice.metrics().await.contains("sluice_config_last_reload_successful 0")
    })
    .await;
    assert!(flagged, "the rejected file is not reflected in sluice_config_last_reload_successful");

    // Other files still apply while b.yaml is broken.
    sluice.write("a.yaml", &ingress("a", "a.test", &[("Prefix", "/", "green")]));
    let moved =
        wait_until(Duration::from_secs(5), || async { backend("a.test").await.as_deref() == Some("green") })
            .await;
    assert!(moved, "a.yaml change not applied while b.yaml is broken");
    assert_eq!(backend("b.test").await.as_deref(), Some("green"));

    // Fixing b.yaml applies its new content.
    sluice.write("b.yaml", &ingress("b", "b.test", &[("Prefix", "/", "blue")]));
    let fixed =
        wait_until(Duration::from_secs(5), || async { backend("b.test").await.as_deref() == Some("blue") })
            .await;
    assert!(fixed, "fixed b.yaml not applied; stderr:\n{}", sluice.stderr());
    let cleared = wait_until(Duration::from_secs(5), || async {
        sluice.metrics().await.contains("sluice_config_last_reload_successful 1")
    })
    .await;
    assert!(cleared);
}
