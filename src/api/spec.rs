//! The `SiteHAPair` custom resource: its spec, with documentation on every
//! field (what `kubectl explain` prints), defaults, and the validation the API
//! server runs (OpenAPI constraints plus CEL rules with messages that say
//! what to fix).

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::defaults;
use super::status::SiteHAPairStatus;

/// Desired state of an active/passive pair of sibling sites.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sitehapair.io",
    version = "v1alpha1",
    kind = "SiteHAPair",
    plural = "sitehapairs",
    singular = "sitehapair",
    shortname = "shp",
    category = "sitehapair",
    doc = "An active/passive pair of sibling sites: one active site takes client traffic, the others are ready standbys; their published services follow a git repository.",
    namespaced,
    status = "SiteHAPairStatus",
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.activeSite","description":"The site that is active now"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"What the pair is doing"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.source.revision","description":"The git revision last fetched"}"#,
    printcolumn = r#"{"name":"In-Sync","type":"string","jsonPath":".status.conditions[?(@.type==\"InSync\")].status","description":"Whether every site matches the revision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec.sites.exists(s, s.name == self.spec.activeSite)").message("spec.activeSite must name one of spec.sites[*].name").field_path(".spec.activeSite").reason(Reason::FieldValueInvalid),
    validation = Rule::new("self.spec.sites.all(s, self.spec.sites.exists_one(t, t.name == s.name))").message("spec.sites: every site name must be unique; rename or remove the duplicate").field_path(".spec.sites"),
    validation = Rule::new("self.spec.sites.all(s, self.spec.sites.exists_one(t, t.adminUrl == s.adminUrl))").message("spec.sites: two sites have the same adminUrl; a site is named once in a pair").field_path(".spec.sites")
)]
#[serde(rename_all = "camelCase")]
pub struct SiteHAPairSpec {
    /// The site that should be active. Changing it is a promotion: the
    /// operator checks the target, demotes the old active site, promotes this
    /// one at a new epoch and switches client traffic to it.
    #[schemars(length(min = 1, max = 63))]
    pub active_site: String,

    /// The sibling sites of the pair, 2 to 8, each with a unique name.
    #[schemars(length(min = 2, max = 8))]
    pub sites: Vec<SiteSpec>,

    /// Where the published service definitions come from. Without a source
    /// the operator manages only which site is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceSpec>,

    /// How site services are brought in line with the source.
    #[serde(default)]
    pub sync: SyncSpec,

    /// How promotions are checked and carried out.
    #[serde(default)]
    pub promotion: PromotionSpec,

    /// How each site's health is checked.
    #[serde(default)]
    pub health_check: HealthCheckSpec,

    /// The Kubernetes Service that sends client traffic to the active site.
    #[serde(default)]
    pub traffic: TrafficSpec,
    /// Change windows: when planned promotions and syncs may run (at most
    /// 16). Automatic failover is held only by windows that say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub windows: Vec<super::windows::ChangeWindow>,
}

/// One sibling site: an independent deployment of the server product.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.trafficAddresses) != has(self.trafficHostname)").message("set exactly one of trafficAddresses or trafficHostname on each site").reason(Reason::FieldValueRequired)
)]
pub struct SiteSpec {
    /// The site's name: a DNS label (lower-case letters, digits and '-', at
    /// most 63 characters, starting and ending with a letter or digit).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,

    /// What kind of server the site is, which decides how the operator
    /// talks to it: Contract (the sitehapair site admin contract, with a
    /// bearer token), ArcGISServer (Esri's ArcGIS Server Administrator
    /// API, with a username and password) or Pygeoapi (pygeoapi's admin
    /// API behind an authenticating front, with HTTP basic or a bearer
    /// token). ArcGISServer and Pygeoapi sites keep their role and epoch
    /// in a ConfigMap in the pair's namespace.
    #[serde(default, skip_serializing_if = "SiteKind::is_contract")]
    pub kind: SiteKind,

    /// Base URL of the site's admin API, http or https. For Contract sites
    /// the base of the contract's calls; for ArcGISServer sites the site's
    /// root, such as https://gis-east.internal:6443/arcgis.
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/]+(/\S*)?$")
    )]
    #[x_kube(validation = Rule::new("isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')").message("adminUrl must be an http:// or https:// URL, such as https://site-east.internal:6443/site-admin"))]
    pub admin_url: String,

    /// The full URL of this site's health check, when it is not
    /// `healthCheck.path` under `adminUrl` (a load balancer's check on
    /// another port or host). Called without credentials, like a load
    /// balancer calls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')").message("healthCheckUrl must be an http:// or https:// URL, such as https://gis-east.internal/arcgis/rest/info/healthCheck"))]
    pub health_check_url: Option<String>,

    /// Secret holding the site's credentials: for Contract sites the key
    /// (default `token`) holding the bearer token; for ArcGISServer sites
    /// the Secret's `username` and `password` keys (an administrator
    /// account; `key` is not used); for Pygeoapi sites `username` and
    /// `password` for HTTP basic to the front, or else the key (default
    /// `token`) holding a bearer token.
    pub credentials_secret_ref: SecretKeyRef,

    /// Secret key holding the PEM CA bundle that signs the site's TLS
    /// certificate. TLS is always verified; without this the system roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,

    /// IP addresses that take client traffic when this site is active. They
    /// become the endpoints of the traffic Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 45)))]
    #[x_kube(validation = Rule::new("self.all(a, isIP(a))").message("trafficAddresses must be IP addresses such as 192.0.2.10"))]
    pub traffic_addresses: Option<Vec<String>>,

    /// DNS name that takes client traffic when this site is active; the
    /// traffic Service becomes an ExternalName Service pointing at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub traffic_hostname: Option<String>,
}

/// A key in a Secret in the pair's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the pair's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[serde(default = "defaults::token_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A reference to a whole Secret in the pair's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret, in the pair's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The source of the service definitions.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// A git repository holding one file per service.
    pub git: GitSource,
}

/// A git repository, a ref in it and a folder of service files.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// Repository URL: https://, http://, ssh:// or git://; file:// only when
    /// the operator runs with --allow-file-sources (demo and tests).
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^(https?|ssh|git|file)://\S+$")
    )]
    pub url: String,

    /// Which commit to follow: a branch, a tag or a commit. Default: branch main.
    #[serde(default, rename = "ref")]
    pub reference: GitRef,

    /// Folder in the repository holding the service files. Default: the root.
    #[serde(default = "defaults::git_path")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.split('/').exists(p, p == '..')").message("path must stay inside the repository: a folder relative to its root such as services/prod, with no '..' and no leading '/'"))]
    pub path: String,

    /// Secret with credentials: `username` and `password` (or a token as
    /// password) for https; `identity` (private key) and `known_hosts` for ssh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,

    /// How often the repository is checked for a new revision, as a Go
    /// duration such as 30s, 1m or 1h30m.
    #[serde(default = "defaults::git_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('5s')").message("interval must be a duration of at least 5s, such as 1m"))]
    pub interval: String,

    /// Accept only commits signed by a trusted key (OpenPGP or SSH). An
    /// unsigned or wrongly signed revision changes no site; the
    /// SourceVerified condition names the commit and the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitVerify>,
}

/// Signature verification of the source's commits.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GitVerify {
    /// What is verified: HEAD, the commit the ref points at.
    #[serde(default)]
    pub mode: VerifyMode,
    /// Secret with the trusted public keys, any key names: each value an
    /// armored OpenPGP public key block (gpg --armor --export), or SSH
    /// public keys one a line (as in authorized_keys).
    pub secret_ref: SecretRef,
}

/// Which commits are verified.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum VerifyMode {
    /// The commit the ref points at.
    #[default]
    #[serde(rename = "HEAD")]
    Head,
}

/// Exactly one of branch, tag or commit. Without any, branch main.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.branch) ? 1 : 0) + (has(self.tag) ? 1 : 0) + (has(self.commit) ? 1 : 0) <= 1").message("set at most one of ref.branch, ref.tag, ref.commit")
)]
pub struct GitRef {
    /// Branch to follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub branch: Option<String>,
    /// Tag to follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub tag: Option<String>,
    /// Full commit hash (40 hex digits) to pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{40}$"))]
    pub commit: Option<String>,
}

/// How sites are brought in line with the source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// Automatic applies changes; Report only reports drift.
    #[serde(default)]
    pub mode: SyncMode,
    /// Delete services from a site that are no longer in the source.
    #[serde(default = "defaults::yes")]
    pub prune: bool,
    /// Revert edits made on a site outside git.
    #[serde(default = "defaults::yes")]
    pub self_heal: bool,
    /// Percent of a site's services one sync may delete without the
    /// annotation `sitehapair.io/approve-prune: <revision>`.
    #[serde(default = "defaults::max_prune_fraction")]
    #[schemars(range(min = 0, max = 100))]
    pub max_prune_fraction: i32,
    /// May a source with no services empty a site?
    #[serde(default)]
    pub allow_empty: bool,
    /// Stop syncing; promotions still run.
    #[serde(default)]
    pub suspend: bool,
    /// How the active site takes a change once every passive holds it and
    /// passes its health check. InPlace (default): the active is changed
    /// while it takes traffic. ShiftTraffic: the whole standby-first
    /// procedure; traffic moves to a healthy passive, the active is changed
    /// and health-checked, and traffic moves back (the active site stays
    /// active; only traffic moves). A change under way finishes under the
    /// strategy it started with.
    #[serde(default)]
    pub strategy: SyncStrategy,
    /// Under ShiftTraffic: how long traffic rests on the standby before the
    /// active site is changed, so that load balancers notice and open
    /// connections drain (Go duration, such as 30s). Default 10s.
    #[serde(default = "defaults::drain_time")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('1h')").message("drainTime must be a duration of at most 1h, such as 30s"))]
    pub drain_time: String,
    /// A site of a new pair that this pair has never synced (a site added
    /// later joins under its own guard, status.sites[].joining): Manual (default) holds a first sync that would
    /// replace or delete anything there until the annotation
    /// `sitehapair.io/approve-adoption: <revision>` accepts the plan shown
    /// in status.sites[].adoptionPlan; a first sync that only creates runs
    /// at once. Automatic applies it without asking.
    #[serde(default)]
    pub adopt: AdoptMode,
}

impl Default for SyncSpec {
    fn default() -> Self {
        Self {
            mode: SyncMode::default(),
            prune: true,
            self_heal: true,
            max_prune_fraction: defaults::max_prune_fraction(),
            allow_empty: false,
            suspend: false,
            strategy: SyncStrategy::default(),
            drain_time: defaults::drain_time(),
            adopt: AdoptMode::default(),
        }
    }
}

/// How the operator talks to a site.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum SiteKind {
    /// The sitehapair site admin contract (docs/site-api.md).
    #[default]
    Contract,
    /// An ArcGIS Server site through its Administrator API (docs/arcgis.md).
    #[serde(rename = "ArcGISServer")]
    ArcGisServer,
    /// A pygeoapi server through its admin API, behind an authenticating
    /// front (docs/pygeoapi.md).
    Pygeoapi,
}

impl SiteKind {
    pub fn is_contract(&self) -> bool {
        *self == SiteKind::Contract
    }
}

/// Whether a sync changes sites or only reports drift.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum SyncMode {
    /// Apply the source to the sites, standby sites first.
    #[default]
    Automatic,
    /// Report drift in status; change nothing.
    Report,
}

/// Whether a first sync over a site's own services waits for a person.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum AdoptMode {
    /// A first sync that would replace or delete waits for
    /// `sitehapair.io/approve-adoption: <revision>`.
    #[default]
    Manual,
    /// A first sync runs like any other.
    Automatic,
}

/// How the active site takes a change.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum SyncStrategy {
    /// The active site is changed where it stands, taking traffic.
    #[default]
    InPlace,
    /// Traffic moves to a healthy passive that holds the revision, the
    /// active is changed and must pass its health check, then traffic moves
    /// back. If the active fails its check, traffic stays on the passive
    /// and the pair is Degraded until the active passes again.
    ShiftTraffic,
}

/// How promotions are checked and carried out.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PromotionSpec {
    /// How long to keep trying to reach an unreachable old active site
    /// before the promotion is forced, as a Go duration (such as 30m).
    #[serde(default = "defaults::contact_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')").message("contactTimeout must be a duration of at least 1s, such as 30m"))]
    pub contact_timeout: String,
    /// Promote only a site that has applied the current source revision.
    #[serde(default = "defaults::yes")]
    pub require_in_sync: bool,
    /// Promote only a site that passes its health check.
    #[serde(default = "defaults::yes")]
    pub require_healthy: bool,
    /// A planned promotion waits until the target's last change (services
    /// applied) is at least this old, as a Go duration (such as 5m): do not
    /// promote right after an update. Forced and automatic failovers do not
    /// wait. Default 0s.
    #[serde(default = "defaults::settling_time")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub settling_time: String,
    /// Automatic failover when the active site fails its health checks.
    #[serde(default)]
    pub automatic: AutomaticFailoverSpec,
    /// Work after a promotion (certificates, stores, boot media): at most 8
    /// hooks with unique names, each an HTTP call or a Job, run once every
    /// Manual or Automatic promotion is Complete (never on a new pair's
    /// first activation, reason Initial). A failed hook does not undo the
    /// promotion: it is retried up to its attempts and reported in
    /// status.hooks, the HooksSucceeded condition and HookFailed Events.
    /// Hooks of a promotion that have not finished when a newer one
    /// completes are abandoned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new("self.all(h, self.exists_one(g, g.name == h.name))").message("spec.promotion.hooks: every hook name must be unique; rename or remove the duplicate"))]
    pub hooks: Vec<super::hooks::PromotionHook>,
    /// A scheduled switchover: a change of spec.activeSite is accepted at
    /// once and carried out at this time (RFC 3339, such as
    /// 2026-12-12T22:00:00Z); until then the pair's phase is Scheduled and
    /// PromotionBlocked says when, with what the preflight finds now.
    /// Automatic failover does not wait for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("timestamp(self) > timestamp('2000-01-01T00:00:00Z')").message("notBefore must be an RFC 3339 time such as 2026-12-12T22:00:00Z"))]
    pub not_before: Option<String>,
    /// Rehearse the promotion to a site: every step of a planned
    /// promotion that changes no role and no traffic (preflight, a full
    /// comparison of the site with the source, its health check, a read
    /// of its role and epoch, the hooks marked rehearse), then report in
    /// status.rehearsal what the real promotion would do and how long it
    /// would take. A new id runs again; a real promotion cancels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearse: Option<super::rehearsal::RehearsalRequest>,
    /// Verification after a promotion; off when absent. For `period` after
    /// each Manual or Automatic promotion the new active must pass its
    /// health check (and the probes) `successes` times in a row; if it
    /// fails, the previous active is promoted back (through the same
    /// fencing, demote before promote; like a failover, not held by
    /// notBefore or settlingTime) and the pair is held (status.hold,
    /// condition Held) until a person acknowledges: no automatic failover
    /// and no automatic revert runs meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<super::verify::PromotionVerify>,
}

impl Default for PromotionSpec {
    fn default() -> Self {
        Self {
            contact_timeout: defaults::contact_timeout(),
            require_in_sync: true,
            require_healthy: true,
            settling_time: defaults::settling_time(),
            automatic: AutomaticFailoverSpec::default(),
            hooks: Vec::new(),
            not_before: None,
            rehearse: None,
            verify: None,
        }
    }
}

/// Automatic failover; off by default.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticFailoverSpec {
    /// Let the operator change spec.activeSite itself when the active site fails.
    #[serde(default)]
    pub enabled: bool,
    /// Failed health checks in a row before an automatic failover.
    #[serde(default = "defaults::failure_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: i32,
    /// No automatic promotion within this long of the last promotion unless
    /// the annotation `sitehapair.io/ack-failover` acknowledges it (Go duration).
    #[serde(default = "defaults::min_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('0s')").message("minInterval must be a duration such as 1h"))]
    pub min_interval: String,
}

impl Default for AutomaticFailoverSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            failure_threshold: defaults::failure_threshold(),
            min_interval: defaults::min_interval(),
        }
    }
}

/// The health check each site answers (`GET <adminUrl><path>`, or the
/// site's `healthCheckUrl`; 2xx = healthy, 503 = unhealthy), called without
/// credentials as a load balancer calls it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("duration(self.timeout) <= duration(self.interval)").message("healthCheck.timeout must not be longer than healthCheck.interval")
)]
pub struct HealthCheckSpec {
    /// Path relative to the admin URL, with an optional query (a GIS
    /// server's check is /arcgis/rest/info/healthCheck?f=json).
    #[serde(default = "defaults::health_path")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/"))]
    pub path: String,
    /// How often each site is checked (Go duration, such as 10s).
    #[serde(default = "defaults::health_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')").message("healthCheck.interval must be a duration of at least 1s, such as 10s"))]
    pub interval: String,
    /// How long one check may take (Go duration, such as 2s).
    #[serde(default = "defaults::health_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('100ms')").message("healthCheck.timeout must be a duration of at least 100ms, such as 2s"))]
    pub timeout: String,
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        Self {
            path: defaults::health_path(),
            interval: defaults::health_interval(),
            timeout: defaults::health_timeout(),
        }
    }
}

/// The Service that follows the active site.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSpec {
    /// Name of the Service; default: the pair's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub service_name: Option<String>,
    /// Ports of the Service; default: https 443 to 443.
    #[serde(default = "defaults::traffic_ports")]
    #[schemars(length(min = 1, max = 16))]
    pub ports: Vec<TrafficPort>,
    /// Where traffic goes while a promotion waits for an old active site
    /// that does not answer. WaitForPromotion (default): traffic stays on
    /// the old active until it is demoted or the contact window runs out
    /// (no two sites take traffic, but clients reach a dead site for up to
    /// spec.promotion.contactTimeout). Immediate: traffic moves to the
    /// promotion target as soon as the old active is found not answering,
    /// as a load balancer's health check would; the role change still waits
    /// for the old active to be demoted or for the window to run out.
    #[serde(default)]
    pub failover: TrafficFailover,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        Self {
            service_name: None,
            ports: defaults::traffic_ports(),
            failover: TrafficFailover::default(),
        }
    }
}

/// When traffic follows an unplanned failover.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum TrafficFailover {
    /// Traffic moves only when the promotion target is active.
    #[default]
    WaitForPromotion,
    /// Traffic moves to the target as soon as the old active does not answer.
    Immediate,
}

/// One port of the traffic Service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPort {
    /// Port name (a DNS label).
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Port the Service listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Port on the site's traffic addresses; default: the same as port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: Option<i32>,
}
