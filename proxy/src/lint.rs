//! `sluice lint`: what a team runs before migrating from ingress-nginx. It reads the Ingresses
//! of a manifests folder or of a cluster and prints, per Ingress, how Sluice treats each
//! `nginx.ingress.kubernetes.io/*` annotation (supported, partial, unsupported, refused) and
//! which values are invalid. The exit status is 1 when something would behave differently.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_controller::manifests::ManifestSource;
use sluice_controller::translate::compat::{self, Support};
use sluice_controller::translate::{annotation_warnings, ANNOTATION_PREFIX};
use sluice_controller::Invalid;

/// Where `sluice lint` reads Ingresses from.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// A folder of manifests.
    #[arg(long, value_name = "DIR", conflicts_with = "kubeconfig")]
    pub manifests: Option<PathBuf>,
    /// A kubeconfig: lint the cluster's Ingresses (in-cluster config when neither is given).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Only this namespace (cluster mode).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// One finding about an annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `supported`, `partial`, `unsupported`, `refused` or `invalid`.
    pub kind: &'static str,
    /// The annotation without the prefix.
    pub annotation: String,
    /// What differs, or why.
    pub note: String,
}

impl Finding {
    /// Whether the Ingress would behave differently under Sluice because of it.
    pub fn differs(&self) -> bool {
        self.kind != "supported"
    }
}

/// The findings for one Ingress, supported annotations included.
pub fn findings(ingress: &Ingress) -> Vec<Finding> {
    let mut out: Vec<Finding> = ingress
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix(ANNOTATION_PREFIX))
        .map(|name| {
            let (kind, note) = match compat::support(name) {
                Support::Supported => ("supported", ""),
                Support::Partial(n) => ("partial", n),
                Support::Unsupported(n) => ("unsupported", n),
                Support::Refused(n) => ("refused", n),
            };
            Finding { kind, annotation: name.to_owned(), note: note.to_owned() }
        })
        .collect();
    for warning in annotation_warnings(ingress) {
        if let Invalid::InvalidAnnotation { annotation, value, reason }
        | Invalid::InvalidConfig { key: annotation, value, reason } = &warning.reason
        {
            let name = annotation.strip_prefix(ANNOTATION_PREFIX).unwrap_or(annotation);
            out.push(Finding {
                kind: "invalid",
                annotation: name.to_owned(),
                note: format!("{value:?}: {reason}"),
            });
        } else if let Invalid::InvalidRegex { what, pattern, reason } = &warning.reason {
            let name = what.strip_prefix(ANNOTATION_PREFIX).unwrap_or(what);
            out.push(Finding {
                kind: "invalid",
                annotation: name.to_owned(),
                note: format!("{pattern:?}: {reason}"),
            });
        }
    }
    out
}

/// Runs `sluice lint`; returns the process exit status.
pub fn run(args: &LintArgs) -> anyhow::Result<i32> {
    let ingresses = match &args.manifests {
        Some(dir) => {
            let mut source = ManifestSource::new(dir);
            let scan = source.scan().with_context(|| format!("reading {}", dir.display()))?;
            for (path, error) in &scan.failed {
                eprintln!("skipped {}: {error}", path.display());
            }
            source.snapshot().ingresses.values().map(|i| (**i).clone()).collect()
        }
        None => cluster_ingresses(args)?,
    };
    let mut stdout = std::io::stdout().lock();
    let (mut differing, total) = (0, ingresses.len());
    for ingress in &ingresses {
        let ns = ingress.metadata.namespace.as_deref().unwrap_or("default");
        let name = ingress.metadata.name.as_deref().unwrap_or("");
        let found = findings(ingress);
        let differs = found.iter().any(Finding::differs);
        differing += usize::from(differs);
        let verdict = if differs { "would behave differently" } else { "ok" };
        writeln!(stdout, "{ns}/{name}: {verdict}")?;
        for f in &found {
            let sep = if f.note.is_empty() { "" } else { ": " };
            writeln!(stdout, "  {:<11} {}{sep}{}", f.kind, f.annotation, f.note)?;
        }
    }
    writeln!(stdout, "{total} Ingresses, {differing} would behave differently under Sluice")?;
    Ok(i32::from(differing > 0))
}

fn cluster_ingresses(args: &LintArgs) -> anyhow::Result<Vec<Ingress>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let config = sluice_controller::cluster::config(args.kubeconfig.as_deref()).await?;
        let client = kube::Client::try_from(config)?;
        let api: kube::Api<Ingress> = match &args.namespace {
            Some(ns) => kube::Api::namespaced(client, ns),
            None => kube::Api::all(client),
        };
        Ok(api.list(&Default::default()).await?.items)
    })
}
