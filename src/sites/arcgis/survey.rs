//! What an ArcGIS site holds that a pair leaves alone (the server's and
//! the portal's folders, services whose names the rules cannot express,
//! the token configuration), and the privilege probe of `sitehapair
//! check`. ArcGIS offers no write that changes nothing (an edit restarts
//! the service, a folder or mode change changes the site), so the
//! privilege to write is judged from reading the token configuration,
//! which only an administrator may read.

use serde_json::Value;

use super::ArcGisSite;
use super::answers::refusal_error;
use super::names::{SERVER_FOLDERS, ServiceId};
use crate::sites::SiteError;
use crate::sites::answers::{MAX_BODY, MAX_SERVICES_BODY};
use crate::sites::survey::{LeftOut, WriteProbe};

/// Services listed in one folder's answer: (folder, name, type).
fn listed(v: &Value, folder: &str) -> Vec<(String, String, String)> {
    v.get("services")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let f = s
                .get("folderName")
                .and_then(Value::as_str)
                .unwrap_or(folder);
            Some((
                f.trim_matches('/').to_string(),
                s.get("serviceName")?.as_str()?.to_string(),
                s.get("type")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

impl ArcGisSite {
    /// What the site holds that a pair does not synchronise.
    pub async fn left_out(&self) -> Result<Vec<LeftOut>, SiteError> {
        let root = self
            .admin_ok(&["admin", "services"], &[], MAX_SERVICES_BODY)
            .await?;
        let folders: Vec<String> = root
            .get("folders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let mut out = Vec::new();
        let mut services = listed(&root, "");
        for f in &folders {
            if SERVER_FOLDERS.iter().any(|s| s.eq_ignore_ascii_case(f)) {
                out.push(LeftOut {
                    item: format!("folder {f}"),
                    why: "the server's own folder (System, Utilities) or the portal's hosted \
                          services (Hosted): a pair never lists, writes or prunes it"
                        .into(),
                });
                continue;
            }
            let v = self
                .admin_ok(&["admin", "services", f], &[], MAX_SERVICES_BODY)
                .await?;
            services.extend(listed(&v, f).into_iter().filter(|(sf, _, _)| sf == f));
        }
        for (f, n, t) in services {
            if let Err(e) = ServiceId::of_listing(&f, &n, &t) {
                out.push(LeftOut {
                    item: format!(
                        "service {}{n}.{t}",
                        if f.is_empty() {
                            String::new()
                        } else {
                            format!("{f}/")
                        }
                    ),
                    why: format!("its name cannot be written in git: {e}"),
                });
            }
        }
        out.push(LeftOut {
            item: "the token configuration (admin/security/tokens)".into(),
            why: "not a service; keep the shared key equal on every site (`sitehapair check` compares it)"
                .into(),
        });
        Ok(out)
    }

    /// The privilege probe: read the token configuration.
    pub async fn write_probe(&self) -> Result<WriteProbe, SiteError> {
        let call = "POST admin/security/tokens";
        self.admin(&["admin", "security", "tokens"], &[], MAX_BODY)
            .await?
            .map_err(|r| refusal_error(&self.name, call, r))?;
        Ok(WriteProbe::JudgedByRead(
            "read admin/security/tokens (administrators only; ArcGIS has no write that changes nothing)",
        ))
    }
}
