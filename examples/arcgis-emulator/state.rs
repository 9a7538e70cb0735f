//! Persistence of the site (`--state FILE`): folders, services with their
//! posted JSON, states and server-assigned ids, the token configuration
//! (shared key included) and the site mode, as one JSON document written
//! atomically (a temporary file beside it, fsync, rename) after every
//! change, so a restart loses nothing. Tokens hold no state (see `tokens`).

use std::path::Path;

use tokio::io::AsyncWriteExt;

use crate::model::Site;

/// Read the state file; `None` when it does not exist yet.
pub async fn load(path: &Path) -> std::io::Result<Option<Site>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write the site atomically; without a state file there is nothing to do.
pub async fn persist(path: Option<&Path>, site: &Site) -> std::io::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let text = serde_json::to_vec(site).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    let mut f = tokio::fs::File::create(&tmp).await?;
    f.write_all(&text).await?;
    f.write_all(b"\n").await?;
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, path).await
}
