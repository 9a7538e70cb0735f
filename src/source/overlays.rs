//! Reading the per-site overlay files of a revision: `.sites/<site>/` under
//! the services folder, one folder per site, each file a JSON merge patch
//! (RFC 7386) over the service it names (its `name` field, else its file
//! stem, as for service files). The folder starts with a dot because the
//! service reader skips dot entries: no service file can ever be taken for
//! an overlay or the other way round, and a dotted service name such as
//! `Folder.Name.MapServer` is never split. Merging is pure
//! (`plan::overlay`); this module reads files and names them in errors.

use std::path::Path;

use super::files::{FileError, check_name, collect, read_one, rel_name};
use crate::plan::diff::ServiceSet;
use crate::plan::overlay::{Overlay, SourceSet, apply_overlays};

/// The overlay folder's name, directly under the services folder.
pub const OVERLAY_DIR: &str = ".sites";

/// Read the overlays under `root` (the services folder, resolved, inside
/// `repo`) and merge them into `base`. No `.sites` folder: no overlays.
pub(super) fn read_overlays(
    repo: &Path,
    root: &Path,
    base: ServiceSet,
) -> Result<SourceSet, FileError> {
    let dir = root.join(OVERLAY_DIR);
    if std::fs::symlink_metadata(&dir).is_err() {
        return Ok(SourceSet::plain(base));
    }
    let real = dir.canonicalize().map_err(|_| FileError::SymlinkEscapes {
        file: rel_name(repo, &dir),
    })?;
    if !real.starts_with(repo) || !real.is_dir() {
        return Err(FileError::SymlinkEscapes {
            file: rel_name(repo, &dir),
        });
    }
    let mut files = Vec::new();
    collect(repo, &real, &mut files)?;
    files.sort();
    let mut overlays = Vec::new();
    for file in files {
        let rel = rel_name(repo, &file);
        let inside = file.strip_prefix(&real).unwrap_or(&file);
        let mut parts = inside.components();
        let site = parts
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if parts.next().is_none() {
            return Err(FileError::OverlayOutsideSite { file: rel });
        }
        if !is_dns_label(&site) {
            return Err(FileError::OverlaySiteName { file: rel, site });
        }
        let parsed = read_one(&file, &rel)?;
        check_name(&parsed.name).map_err(|why| FileError::BadName {
            file: rel.clone(),
            line: parsed.name_line,
            name: parsed.name.clone(),
            why,
        })?;
        overlays.push(Overlay {
            site,
            service: parsed.name,
            file: rel,
            name_line: parsed.name_line,
            patch: parsed.definition,
        });
    }
    apply_overlays(base, overlays).map_err(FileError::Overlay)
}

/// Is `s` a site name (a DNS label: lower-case letters, digits, '-', not
/// at either end, at most 63 characters)?
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Check that every overlay is for one of `sites` (when the pair's sites
/// are known): an overlay for another site is a mistake in the repository.
pub fn check_overlay_sites(set: &SourceSet, sites: &[&str]) -> Result<(), FileError> {
    match set.unknown_site(sites) {
        None => Ok(()),
        Some((site, file)) => Err(FileError::OverlayUnknownSite {
            file: file.to_string(),
            site: site.to_string(),
            known: sites.join(", "),
        }),
    }
}
