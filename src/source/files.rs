//! Reading and validating service files: one JSON object per file under a
//! folder (`*.yaml`, `*.yml`, `*.json`), named by its `name` field or else its
//! file name. Any bad file rejects the whole revision, naming file and line.
//! Parsing one file's text is pure ([`parse_service_file`]), also for the
//! fuzzer (fuzz/).

use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

use super::overlays::read_overlays;
use crate::plan::diff::ServiceSet;
use crate::plan::overlay::SourceSet;

/// Largest service file accepted.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Deepest nesting of objects and lists in a definition (the definition
/// itself is level 1). A site's `GET /services` answer holds every
/// definition two levels down and is read with serde_json's limit of 128,
/// so a definition accepted here must stay well below that, or the site
/// could never be read again once it stored it.
pub const MAX_DEPTH: usize = 64;

/// Why a revision was rejected. `file` is relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileError {
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:1: a service file must hold one object (a mapping), found {found}")]
    NotAnObject { file: String, found: &'static str },
    #[error("{file}:{line}: service name {name:?} is not allowed: {why}")]
    BadName {
        file: String,
        line: usize,
        name: String,
        why: &'static str,
    },
    #[error("{file}:1: service {name:?} is also defined in {other}")]
    Duplicate {
        file: String,
        other: String,
        name: String,
    },
    #[error("{file}:1: the file is {size} bytes, more than the limit of {MAX_FILE_BYTES}")]
    TooLarge { file: String, size: u64 },
    #[error("{file}:1: the definition nests objects and lists deeper than {MAX_DEPTH} levels")]
    TooDeep { file: String },
    #[error(
        "{file}:1: {pointer} still holds {placeholder}, put there by `sitehapair export`: write the value back (the runbook's \"Adopt two running sites\")",
        placeholder = super::masked::PLACEHOLDER
    )]
    Masked { file: String, pointer: String },
    #[error("{file}:1: symbolic link pointing outside the repository")]
    SymlinkEscapes { file: String },
    #[error("{file}: cannot read: {message}")]
    Io { file: String, message: String },
    #[error("path {path:?}: not a folder in the repository")]
    NoSuchPath { path: String },
    #[error("{file}:1: an overlay goes in a folder named for its site, .sites/<site>/")]
    OverlayOutsideSite { file: String },
    #[error("{file}:1: overlay folder {site:?} is not a site name (a DNS label)")]
    OverlaySiteName { file: String, site: String },
    #[error(
        "{file}:1: overlay for site {site:?}, which is not a site of the pair (sites: {known})"
    )]
    OverlayUnknownSite {
        file: String,
        site: String,
        known: String,
    },
    #[error(transparent)]
    Overlay(crate::plan::overlay::OverlayError),
}

/// Read a revision's services under `repo/path`: the service files and the
/// per-site overlays (`.sites/<site>/`, see `source::overlays`) merged.
pub fn read_source(repo: &Path, path: &str) -> Result<SourceSet, FileError> {
    let (repo, root, base) = read_base(repo, path)?;
    read_overlays(&repo, &root, base)
}

/// The base services only (the overlays read, checked and left out).
#[cfg(test)]
pub(crate) fn read_services(repo: &Path, path: &str) -> Result<ServiceSet, FileError> {
    read_source(repo, path).map(|s| s.base)
}

/// Read every service file under `repo/path`. Files are visited in sorted
/// order, folders recursively; other file types and dot entries are
/// ignored. Returns the resolved repository and folder with the services.
fn read_base(repo: &Path, path: &str) -> Result<(PathBuf, PathBuf, ServiceSet), FileError> {
    let repo = repo.canonicalize().map_err(|e| FileError::Io {
        file: ".".into(),
        message: e.to_string(),
    })?;
    let sub = clean_relative(path).ok_or_else(|| FileError::NoSuchPath {
        path: path.to_string(),
    })?;
    let root = repo.join(&sub);
    let meta = std::fs::metadata(&root).map_err(|_| FileError::NoSuchPath {
        path: path.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(FileError::NoSuchPath {
            path: path.to_string(),
        });
    }
    // Every component is resolved, not only the last: a committed symlink
    // to a folder anywhere along the path must stay inside the repository.
    let real = root.canonicalize().map_err(|_| FileError::NoSuchPath {
        path: path.to_string(),
    })?;
    if !real.starts_with(&repo) {
        return Err(FileError::SymlinkEscapes {
            file: sub.to_string_lossy().into_owned(),
        });
    }
    let mut files = Vec::new();
    collect(&repo, &real, &mut files)?;
    files.sort();
    let mut out = ServiceSet::new();
    let mut origin: std::collections::BTreeMap<String, String> = Default::default();
    for file in files {
        let rel = rel_name(&repo, &file);
        let ServiceFile {
            name,
            definition: value,
            name_line: line,
        } = read_one(&file, &rel)?;
        if let Some(other) = origin.get(&name) {
            return Err(FileError::Duplicate {
                file: rel,
                other: other.clone(),
                name,
            });
        }
        check_name(&name).map_err(|why| FileError::BadName {
            file: rel.clone(),
            line,
            name: name.clone(),
            why,
        })?;
        origin.insert(name.clone(), rel);
        out.insert(name, value);
    }
    Ok((repo, real, out))
}

/// A relative path without `..`, or None.
fn clean_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

pub(super) fn rel_name(repo: &Path, file: &Path) -> String {
    file.strip_prefix(repo)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

fn is_service_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

pub(super) fn collect(repo: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FileError> {
    let io = |e: std::io::Error, p: &Path| FileError::Io {
        file: rel_name(repo, p),
        message: e.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
        let entry = entry.map_err(|e| io(e, dir))?;
        let p = entry.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let ft = entry.file_type().map_err(|e| io(e, &p))?;
        if ft.is_symlink() {
            // A link is followed only when it stays inside the repository.
            let target = p.canonicalize().map_err(|_| FileError::SymlinkEscapes {
                file: rel_name(repo, &p),
            })?;
            if !target.starts_with(repo) {
                return Err(FileError::SymlinkEscapes {
                    file: rel_name(repo, &p),
                });
            }
            if target.is_file() && is_service_file(&p) {
                out.push(p);
            }
        } else if ft.is_dir() {
            collect(repo, &p, out)?;
        } else if ft.is_file() && is_service_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// One service file, parsed: its service name (the `name` field, else the
/// file stem), its definition and the line the name was written on (1 when
/// it came from the file name).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFile {
    pub name: String,
    pub definition: Value,
    pub name_line: usize,
}

/// Read one file from disk (size checked before reading) and parse it.
pub(super) fn read_one(file: &Path, rel: &str) -> Result<ServiceFile, FileError> {
    let size = std::fs::metadata(file)
        .map_err(|e| FileError::Io {
            file: rel.to_string(),
            message: e.to_string(),
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            file: rel.to_string(),
            size,
        });
    }
    let text = std::fs::read_to_string(file).map_err(|e| FileError::Io {
        file: rel.to_string(),
        message: e.to_string(),
    })?;
    parse_service_file(rel, &text)
}

/// Parse the text of one service file, pure. `rel` is the file's path
/// relative to the repository root: errors name it, its extension picks the
/// syntax (`.json` is JSON, anything else YAML) and its stem is the name
/// when the file has no `name` field. The name itself is checked by the
/// caller ([`check_name`]), after duplicates.
pub fn parse_service_file(rel: &str, text: &str) -> Result<ServiceFile, FileError> {
    let size = text.len() as u64;
    if size > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            file: rel.to_string(),
            size,
        });
    }
    let path = Path::new(rel);
    let value: Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text).map_err(|e| FileError::Parse {
            file: rel.to_string(),
            line: e.line(),
            message: e.to_string(),
        })?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| FileError::Parse {
            file: rel.to_string(),
            line: e.location().map(|l| l.line()).unwrap_or(1),
            message: e.to_string(),
        })?
    };
    let found = match &value {
        Value::Object(_) => "",
        Value::Null => "nothing",
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
    };
    if !found.is_empty() {
        return Err(FileError::NotAnObject {
            file: rel.to_string(),
            found,
        });
    }
    if deeper_than(&value, MAX_DEPTH) {
        return Err(FileError::TooDeep {
            file: rel.to_string(),
        });
    }
    // A masked value never reaches a site.
    if let Some(pointer) = super::masked::find_placeholder(&value) {
        return Err(FileError::Masked {
            file: rel.to_string(),
            pointer,
        });
    }
    let (name, name_line) = match value.get("name") {
        Some(Value::String(n)) => (n.clone(), line_of_key(text, "name")),
        Some(_) => {
            return Err(FileError::BadName {
                file: rel.to_string(),
                line: line_of_key(text, "name"),
                name: String::new(),
                why: "the name field must be a string",
            });
        }
        None => (
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            1,
        ),
    };
    Ok(ServiceFile {
        name,
        definition: value,
        name_line,
    })
}

/// Does `v` nest objects and lists more than `max` levels (`v` is level 1)?
/// The parsers' own limits bound the recursion.
fn deeper_than(v: &Value, max: usize) -> bool {
    match v {
        Value::Object(m) => max == 0 || m.values().any(|c| deeper_than(c, max - 1)),
        Value::Array(a) => max == 0 || a.iter().any(|c| deeper_than(c, max - 1)),
        _ => false,
    }
}

/// The 1-based line where `key` is first written as a key, else 1.
fn line_of_key(text: &str, key: &str) -> usize {
    let yaml = format!("{key}:");
    let json = format!("\"{key}\"");
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(&yaml) || t.starts_with(&json)
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// A service name must be one path segment a site can use in a URL.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    if name.contains('/') || name.contains('\\') {
        return Err("it contains a slash");
    }
    if name == "." || name.contains("..") {
        return Err("it contains '..'");
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("it contains white space or control characters");
    }
    Ok(())
}
