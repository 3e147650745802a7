//! Encrypted recordings on the review host: the console holds the age identity, so it can catalogue them
//! from their decrypted `metadata.json` and play a decrypted copy. The folder itself is never changed; the
//! copy lives under `.console/plain/<sha256 of id>/` and is made by [`muxer::decrypt::decrypt_dir`], which
//! verifies the folder first (a folder that does not verify is not decrypted).

use std::path::PathBuf;

use catalog::{CatalogStore, RecordingEntry};

use crate::{sha256_hex, Console, ConsoleError};

/// Largest `metadata.json` decrypted for the catalogue.
const MAX_METADATA: u64 = 64 << 20;

/// Re-reads every encrypted entry whose participants came from file names only, from its decrypted
/// `metadata.json` (same stamp: the next scan leaves it alone until the folder changes).
pub(crate) fn reindex_encrypted(
    console: &Console,
    store: &mut dyn CatalogStore,
) -> Result<(), ConsoleError> {
    let Some(ids) = console.identity.as_ref() else {
        return Ok(());
    };
    // Bucket recordings are decrypted as the bucket is indexed (crate::bucket).
    for id in catalog::local_ids(store)? {
        let Some(e) = store.get(&id)? else { continue };
        if !e.encrypted
            || e.participants
                .iter()
                .any(|p| !p.id.is_empty() || !p.display_name.is_empty())
        {
            continue;
        }
        let dir = console.folder(&id)?;
        let Ok(f) = std::fs::File::open(dir.join("metadata.json")) else {
            continue;
        };
        let meta = match seal::replay_to_vec(std::io::BufReader::new(f), ids, MAX_METADATA) {
            Ok(m) => m,
            Err(err) => {
                eprintln!("verbatim serve: {id}: metadata.json not decrypted: {err}");
                continue;
            }
        };
        let manifest = std::fs::read(dir.join("manifest.json")).ok();
        let stems: Vec<String> = e.participants.iter().map(|p| p.name.clone()).collect();
        let mut fresh = RecordingEntry::from_files(&id, Some(&meta), manifest.as_deref(), &stems)?;
        fresh.encrypted = true;
        let stamp = store.stamp(&id)?.unwrap_or_default();
        store.upsert(&fresh, &stamp)?;
    }
    Ok(())
}

/// The decrypted copy of an encrypted recording, made on first use.
pub(crate) fn plain_copy(
    console: &Console,
    e: &RecordingEntry,
    source: &std::path::Path,
) -> Result<PathBuf, ConsoleError> {
    let Some(ids) = console.identity.as_ref() else {
        return Err(ConsoleError::BadInput(format!(
            "{}: encrypted, and the console has no identity (serve --identity FILE)",
            e.id
        )));
    };
    let base = console.config.state_dir.join("plain");
    // Keyed by the source too: a bucket recording's new state (closed, recovered) is a new source folder.
    let out = base.join(sha256_hex(
        format!("{}\n{}", e.id, source.display()).as_bytes(),
    ));
    let done = out.join(".decrypted");
    if done.exists() {
        // Used now: the last to be evicted.
        crate::bucket::touch(&done);
        return Ok(out);
    }
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&base)
        .map_err(|x| ConsoleError::Io(format!("{}: {x}", base.display())))?;
    muxer::decrypt::decrypt_dir(source, ids, &out, true)
        .map_err(|x| ConsoleError::Io(format!("{}: not decrypted: {x}", e.id)))?;
    std::fs::write(&done, b"").map_err(|x| ConsoleError::Io(format!("{}: {x}", done.display())))?;
    let evicted = crate::bucket::evict(&base, console.config.plain_cache_bytes, &out);
    if evicted > 0 {
        eprintln!(
            "verbatim serve: {evicted} decrypted recording copies removed from {} (over --plain-cache)",
            base.display()
        );
    }
    Ok(out)
}
