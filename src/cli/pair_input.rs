//! Where the site commands (`export`, `check`) find a pair and its sites'
//! credentials: a pair file (as applied with kubectl) or a pair in the
//! cluster, the credentials from the Secrets it names in the cluster, as
//! the operator reads them (`controller::site_drivers`). `export` may also
//! name one site directly: admin URL, kind and a credentials file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kube::ResourceExt;
use kube::api::Api;
use thiserror::Error;

use crate::api::{SiteHAPair, SiteKind, SiteSpec};
use crate::controller::secrets::{SecretStore, TripSecrets};
use crate::controller::site_drivers::{Credentials, SiteClients, site_driver};
use crate::sites::SiteDriver;

/// Which pair: a file or a pair in the cluster.
#[derive(Args, Debug, Clone)]
pub struct PairArgs {
    /// The pair's YAML file (as applied with kubectl).
    #[arg(long, conflicts_with = "pair_name")]
    pub pair: Option<PathBuf>,
    /// Or the name of a SiteHAPair in the cluster.
    #[arg(long)]
    pub pair_name: Option<String>,
    /// Namespace of the pair and its Secrets (default: the file's, else the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Timeout of each call to a site, in seconds.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
}

/// Why a pair or a site's credentials could not be read.
#[derive(Debug, Error)]
pub enum PairInputError {
    #[error("name a pair: --pair FILE or --pair-name NAME")]
    NoPair,
    #[error("reading {file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: not a SiteHAPair: {message}")]
    NotAPair { file: String, message: String },
    #[error("the cluster (kubeconfig): {0}")]
    Cluster(String),
    #[error("pair {namespace}/{name}: {message}")]
    Get {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("the pair has no site {site} (it has {known})")]
    NoSite { site: String, known: String },
    #[error(
        "{file}: the credentials file must be a mapping with `token` (Contract) or `username` and `password` (ArcGISServer): {message}"
    )]
    Credentials { file: String, message: String },
    #[error("site {site}: {message}")]
    Site { site: String, message: String },
}

/// A pair, where it lives, and the cluster its Secrets are read from.
pub struct LoadedPair {
    pub pair: SiteHAPair,
    pub namespace: String,
    pub client: kube::Client,
    /// The pair as the cluster holds it, when it is there (its name and
    /// namespace): its creation time decides claims.
    pub in_cluster: Option<SiteHAPair>,
}

/// Read the pair (file or cluster).
pub async fn load(args: &PairArgs) -> Result<LoadedPair, PairInputError> {
    let cluster = |e: kube::Error| PairInputError::Cluster(e.to_string());
    let client = kube::Client::try_default().await.map_err(cluster)?;
    let from_file = match (&args.pair, &args.pair_name) {
        (Some(file), _) => {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| PairInputError::Read {
                file: shown.clone(),
                message: e.to_string(),
            })?;
            let pair: SiteHAPair =
                serde_yaml_ng::from_str(&text).map_err(|e| PairInputError::NotAPair {
                    file: shown,
                    message: e.to_string(),
                })?;
            Some(pair)
        }
        (None, Some(_)) => None,
        (None, None) => return Err(PairInputError::NoPair),
    };
    let namespace = args
        .namespace
        .clone()
        .or_else(|| from_file.as_ref().and_then(|p| p.namespace()))
        .unwrap_or_else(|| client.default_namespace().to_string());
    let name = from_file
        .as_ref()
        .map(|p| p.name_any())
        .or_else(|| args.pair_name.clone())
        .unwrap_or_default();
    let api: Api<SiteHAPair> = Api::namespaced(client.clone(), &namespace);
    let get = |e: kube::Error| PairInputError::Get {
        namespace: namespace.clone(),
        name: name.clone(),
        message: e.to_string(),
    };
    let in_cluster = match from_file {
        // A file's pair may not be applied yet.
        Some(_) => api.get_opt(&name).await.map_err(get)?,
        None => Some(api.get(&name).await.map_err(get)?),
    };
    let pair = match from_file {
        Some(p) => p,
        None => in_cluster.clone().ok_or(PairInputError::NoPair)?,
    };
    Ok(LoadedPair {
        pair,
        namespace,
        client,
        in_cluster,
    })
}

impl LoadedPair {
    /// The driver of every site of the pair, each with its credentials
    /// from its Secret, or why it could not be made.
    pub async fn drivers(&self, timeout: Duration) -> Vec<(SiteSpec, Result<SiteDriver, String>)> {
        let store = SecretStore::unwatched(self.client.clone());
        let secrets = TripSecrets::new(&store, &self.namespace);
        let clients = SiteClients::in_cluster(self.client.clone());
        let health = &self.pair.spec.health_check.path;
        let mut out = Vec::new();
        for site in &self.pair.spec.sites {
            let d = site_driver(&secrets, &clients, site, health, timeout).await;
            out.push((site.clone(), d));
        }
        out
    }

    /// The driver of the site named `site`.
    pub async fn driver(
        &self,
        site: &str,
        timeout: Duration,
    ) -> Result<SiteDriver, PairInputError> {
        let known: Vec<&str> = self
            .pair
            .spec
            .sites
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        if !known.contains(&site) {
            return Err(PairInputError::NoSite {
                site: site.to_string(),
                known: known.join(", "),
            });
        }
        self.drivers(timeout)
            .await
            .into_iter()
            .find(|(s, _)| s.name == site)
            .ok_or_else(|| PairInputError::NoSite {
                site: site.to_string(),
                known: known.join(", "),
            })?
            .1
            .map_err(|message| PairInputError::Site {
                site: site.to_string(),
                message,
            })
    }
}

/// The driver of one site named directly: its admin URL, kind, a
/// credentials file (a YAML mapping with the keys its Secret would hold)
/// and an optional CA bundle. No cluster is needed.
pub fn direct_driver(
    admin_url: &str,
    kind: SiteKind,
    credentials: &std::path::Path,
    ca: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<SiteDriver, PairInputError> {
    let file = credentials.display().to_string();
    let bad = |message: String| PairInputError::Credentials {
        file: file.clone(),
        message,
    };
    let text = std::fs::read_to_string(credentials).map_err(|e| bad(e.to_string()))?;
    let map: std::collections::BTreeMap<String, String> =
        serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let key = |k: &str| map.get(k).ok_or_else(|| bad(format!("no `{k}` key")));
    let ca_pem = match ca {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| PairInputError::Read {
                file: p.display().to_string(),
                message: e.to_string(),
            })?,
        ),
        None => None,
    };
    let site: SiteSpec = serde_json::from_value(serde_json::json!({
        "name": crate::api::redact::redact_url(admin_url),
        "kind": kind,
        "adminUrl": admin_url,
        "credentialsSecretRef": {"name": "-"},
        "trafficAddresses": ["192.0.2.1"],
    }))
    .map_err(|e| PairInputError::Site {
        site: admin_url.to_string(),
        message: e.to_string(),
    })?;
    let clients = SiteClients::default();
    let creds = match kind {
        SiteKind::Contract => Credentials::Token(key("token")?),
        SiteKind::ArcGisServer => Credentials::Account {
            username: key("username")?,
            password: key("password")?,
        },
        // HTTP basic for the front when a username is given, else its
        // bearer token.
        SiteKind::Pygeoapi => match map.get("username") {
            Some(username) => Credentials::Front(crate::sites::pygeoapi::front::Front::basic(
                username,
                key("password")?,
            )),
            None => Credentials::Front(crate::sites::pygeoapi::front::Front::bearer(key("token")?)),
        },
    };
    clients
        .driver("", &site, creds, ca_pem.as_deref(), timeout)
        .map_err(|message| PairInputError::Site {
            site: admin_url.to_string(),
            message,
        })
}
