//! How an ArcGIS Server service is named in git and in status: `Name.Type`
//! for a service in the root folder, `Folder.Name.Type` for one in a
//! folder (ArcGIS folders are one level deep). The server's own spelling,
//! `Folder/Name.Type`, holds a `/`, which the site contract refuses in a
//! name; ArcGIS allows only letters, digits, `_` in folder and service
//! names (and `-`), so the dot is unambiguous.

use std::fmt;

/// One service on an ArcGIS Server site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceId {
    /// None for the root folder.
    pub folder: Option<String>,
    /// The service's name (`serviceName` in its JSON).
    pub name: String,
    /// The service type (`type` in its JSON), such as MapServer.
    pub kind: String,
}

/// Folders a pair never lists, writes or prunes: the server's own (System,
/// Utilities) and, on a server federated with a portal, the portal's
/// hosted services (Hosted), which the portal publishes and owns.
pub const SERVER_FOLDERS: &[&str] = &["System", "Utilities", "Hosted"];

/// Why a name is not an ArcGIS service name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{0:?} is not an ArcGIS service name: use Name.Type or Folder.Name.Type, such as Hydro.Rivers.MapServer"
    )]
    Shape(String),
    #[error("{name:?}: the {part} {value:?} may hold only letters, digits, _ and -")]
    Characters {
        name: String,
        part: &'static str,
        value: String,
    },
    #[error("{name:?}: {value:?} is not a service type (MapServer, FeatureServer, GPServer, ...)")]
    Type { name: String, value: String },
    #[error("{name:?}: the folder {folder} belongs to the server and is not synchronised")]
    ServerFolder { name: String, folder: String },
}

/// ArcGIS folder and service names: letters, digits, `_` and `-`, at most
/// 120 characters (IServerObjectConfiguration.Name).
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 120
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl ServiceId {
    /// Read `Name.Type` or `Folder.Name.Type`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let parts: Vec<&str> = text.split('.').collect();
        let (folder, name, kind) = match parts.as_slice() {
            [n, t] => (None, *n, *t),
            [f, n, t] => (Some(*f), *n, *t),
            _ => return Err(NameError::Shape(text.to_string())),
        };
        let bad = |part, value: &str| NameError::Characters {
            name: text.to_string(),
            part,
            value: value.to_string(),
        };
        if let Some(f) = folder {
            if !plain(f) {
                return Err(bad("folder", f));
            }
            if SERVER_FOLDERS.iter().any(|s| s.eq_ignore_ascii_case(f)) {
                return Err(NameError::ServerFolder {
                    name: text.to_string(),
                    folder: f.to_string(),
                });
            }
        }
        if !plain(name) {
            return Err(bad("service name", name));
        }
        let is_type = kind.len() > "Server".len()
            && kind.ends_with("Server")
            && kind.chars().all(|c| c.is_ascii_alphabetic());
        if !is_type {
            return Err(NameError::Type {
                name: text.to_string(),
                value: kind.to_string(),
            });
        }
        Ok(Self {
            folder: folder.map(str::to_string),
            name: name.to_string(),
            kind: kind.to_string(),
        })
    }

    /// The service from a listing entry (`folderName`, `serviceName`, `type`).
    pub fn of_listing(folder: &str, name: &str, kind: &str) -> Result<Self, NameError> {
        let text = match folder.trim_matches('/') {
            "" => format!("{name}.{kind}"),
            f => format!("{f}.{name}.{kind}"),
        };
        Self::parse(&text)
    }

    /// The path segments of the service's admin resource, under `admin/services`.
    pub fn segments(&self) -> Vec<String> {
        let mut s = Vec::with_capacity(2);
        if let Some(f) = &self.folder {
            s.push(f.clone());
        }
        s.push(format!("{}.{}", self.name, self.kind));
        s
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.folder {
            Some(d) => write!(f, "{d}.{}.{}", self.name, self.kind),
            None => write!(f, "{}.{}", self.name, self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_folder_names_read_back_as_written() {
        let root = ServiceId::parse("SampleWorldCities.MapServer").expect("root");
        assert_eq!(root.folder, None);
        assert_eq!(root.segments(), ["SampleWorldCities.MapServer"]);
        let f = ServiceId::parse("Hydro.Rivers.FeatureServer").expect("folder");
        assert_eq!(f.folder.as_deref(), Some("Hydro"));
        assert_eq!(f.segments(), ["Hydro", "Rivers.FeatureServer"]);
        assert_eq!(f.to_string(), "Hydro.Rivers.FeatureServer");
        assert_eq!(
            ServiceId::of_listing("/", "Parcels", "MapServer").expect("root"),
            ServiceId::parse("Parcels.MapServer").expect("same")
        );
    }

    #[test]
    fn names_outside_the_server_rules_are_refused_with_what_to_fix() {
        for bad in [
            "Rivers",
            "a.b.c.MapServer",
            "Hy dro.Rivers.MapServer",
            ".MapServer",
        ] {
            assert!(ServiceId::parse(bad).is_err(), "{bad}");
        }
        let e = ServiceId::parse("Rivers.Map").unwrap_err();
        assert!(e.to_string().contains("not a service type"), "{e}");
        let e = ServiceId::parse("System.CachingTools.GPServer").unwrap_err();
        assert!(matches!(e, NameError::ServerFolder { .. }), "{e}");
    }
}
