//! `Pair`: the pair `gis` of two reference sites (east active, west
//! passive) with an operator, started and waited for until east is active
//! at epoch 1; and the spec and traffic lookups other test beds share with
//! it (`set_active_site`, `slice_addresses`).

use serde_json::{Value, json};

use super::operator::Operator;
use super::proxy::Proxy;
use super::secrets::token_secrets;
use super::site::ReferenceSite;
use super::status::{pair_status, wait_status};
use super::syncbed::pair_for;
use super::{Namespace, stderr};

/// Sites of a pair, east first.
const SITES: [&str; 2] = ["east", "west"];

pub struct Pair {
    pub ns: Namespace,
    pub east: ReferenceSite,
    pub west: ReferenceSite,
    pub op: Option<Operator>,
    _dir: tempfile::TempDir,
}

impl Pair {
    pub fn start(prefix: &str, tweak: impl FnOnce(&mut Value)) -> Self {
        Self::start_with(prefix, tweak, &[])
    }

    pub fn start_with(prefix: &str, tweak: impl FnOnce(&mut Value), op_args: &[&str]) -> Self {
        Self::start_sites(prefix, tweak, op_args, ReferenceSite::start)
    }

    /// Like `start_with`, the sites serving their client path too
    /// (`ReferenceSite::client_addr`).
    pub fn start_with_clients(
        prefix: &str,
        tweak: impl FnOnce(&mut Value),
        op_args: &[&str],
    ) -> Self {
        Self::start_sites(prefix, tweak, op_args, ReferenceSite::start_with_clients)
    }

    /// Like `start_with`, inside a test-bed node's namespaces
    /// (support::node): east and west serve clients on `clients` (addresses
    /// on the node's bridge) at `port`, which are their trafficAddresses,
    /// and the pair's Service forwards port 80 to `port`, so that a client
    /// of the Service's ClusterIP goes through kube-proxy.
    pub fn start_on_node(
        prefix: &str,
        tweak: impl FnOnce(&mut Value),
        op_args: &[&str],
        clients: [&str; 2],
        port: u16,
    ) -> Self {
        let site = |dir: &std::path::Path, name: &str, token: &str| {
            let addr = if name == SITES[0] {
                clients[0]
            } else {
                clients[1]
            };
            ReferenceSite::start_serving_clients(
                dir,
                name,
                token,
                "127.0.0.1:0",
                &format!("{addr}:{port}"),
            )
        };
        let tweak = |pair: &mut Value| {
            tweak(pair);
            for (i, addr) in clients.iter().enumerate() {
                pair["spec"]["sites"][i]["trafficAddresses"] = json!([addr]);
            }
            pair["spec"]["traffic"]["ports"] =
                json!([{"name": "http", "port": 80, "targetPort": port}]);
        };
        Self::start_sites(prefix, tweak, op_args, site)
    }

    fn start_sites(
        prefix: &str,
        tweak: impl FnOnce(&mut Value),
        op_args: &[&str],
        site: impl Fn(&std::path::Path, &str, &str) -> ReferenceSite,
    ) -> Self {
        let ns = Namespace::new(prefix);
        let dir = tempfile::tempdir().expect("tempdir");
        let east = site(dir.path(), "east", "east-token-1");
        let west = site(dir.path(), "west", "west-token-2");
        token_secrets(&ns);
        let mut pair = pair_for("gis", &east, &west);
        pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
        tweak(&mut pair);
        let op = Operator::start(&ns.name, "op", op_args);
        let out = ns.apply(&pair.to_string());
        assert!(out.status.success(), "{}", stderr(&out));
        let p = Self {
            ns,
            east,
            west,
            op: Some(op),
            _dir: dir,
        };
        // The first activation finished (not only its SwitchingTraffic
        // step written): its traffic switch has been applied by then.
        p.wait_status("east active at epoch 1", |st| {
            st["activeSite"] == "east"
                && st["epoch"] == 1
                && st["promotion"].is_null()
                && st["sites"][0]["mode"] == "Active"
                && st["sites"][1]["mode"] == "Passive"
                && st["sites"][1]["epoch"] == 1
        });
        p
    }

    /// Like `start_with`, with the admin URLs of the first `proxied` sites
    /// (east, then west) pointing at proxies in front of them, returned in
    /// that order; the test's own calls (`p.east`, `p.west`) go to the
    /// sites directly. `tweak` edits the pair first; a health check path it
    /// sets is the one the proxies tell apart (else /health).
    pub fn start_proxied(
        prefix: &str,
        tweak: impl FnOnce(&mut Value),
        op_args: &[&str],
        proxied: usize,
    ) -> (Self, Vec<Proxy>) {
        let mut proxies = Vec::new();
        let p = Self::start_with(
            prefix,
            |pair| {
                tweak(pair);
                let health_path = pair["spec"]["healthCheck"]["path"]
                    .as_str()
                    .unwrap_or("/health")
                    .to_string();
                for (i, name) in SITES.iter().enumerate().take(proxied) {
                    let site = &mut pair["spec"]["sites"][i];
                    assert_eq!(site["name"], *name);
                    let px =
                        Proxy::start(site["adminUrl"].as_str().expect("adminUrl"), &health_path);
                    site["adminUrl"] = json!(px.url);
                    proxies.push(px);
                }
            },
            op_args,
        );
        (p, proxies)
    }

    pub fn status(&self) -> Value {
        pair_status(&self.ns, "gis")
    }

    pub fn wait_status(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_status(&self.ns, "gis", what, ok)
    }

    pub fn promote(&self, to: &str) {
        set_active_site(&self.ns, "gis", to);
    }

    /// The pair's Service ClusterIP and port 80, once the Service exists.
    pub fn cluster_ip(&self) -> String {
        let ip = super::wait_for("the pair's Service ClusterIP", super::status::WAIT, || {
            let out = super::kubectl_in(
                super::testbed(),
                Some(&self.ns.name),
                &["get", "service", "gis", "-o", "jsonpath={.spec.clusterIP}"],
            );
            let ip = super::stdout(&out);
            (out.status.success() && ip.trim().parse::<std::net::Ipv4Addr>().is_ok())
                .then(|| ip.trim().to_string())
        });
        format!("{ip}:80")
    }

    pub fn slice_addresses(&self) -> Value {
        slice_addresses(&self.ns)
    }

    pub fn events(&self, reason: &str) -> Vec<String> {
        self.ns.events(reason)
    }
}

/// Ask for a promotion: set spec.activeSite of the pair `name`.
pub fn set_active_site(ns: &Namespace, name: &str, to: &str) {
    ns.kubectl(&[
        "patch",
        "shp",
        name,
        "--type=merge",
        "-p",
        &json!({"spec": {"activeSite": to}}).to_string(),
    ]);
}

/// The addresses of the pair `gis`'s IPv4 EndpointSlice (Null when none).
pub fn slice_addresses(ns: &Namespace) -> Value {
    ns.get_json("endpointslice/gis-ipv4")
        .map(|s| s["endpoints"][0]["addresses"].clone())
        .unwrap_or(Value::Null)
}
