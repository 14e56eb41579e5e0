//! Compiled components, cached in memory (so a reload recompiles only plugins whose bytes
//! changed) and on disk (so a restart with a warm cache skips Cranelift entirely).
//!
//! Disk entries are keyed by SHA-256 of the component bytes plus the engine's
//! compatibility hash (wasmtime version, target, settings), so an artifact is never
//! loaded into an engine it was not compiled for. Loading a precompiled artifact is
//! `unsafe` in wasmtime because the bytes are trusted as machine code: only files this
//! process wrote itself are loaded — in a directory we create with mode 0700, owned by
//! our uid, not writable by group or others, written atomically under a content-hash name.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmtime::Engine;
use wasmtime::component::Component;

/// What happened when a component was requested, for logs and start-up measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Memory,
    Disk,
    Compiled,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Memory => "memory",
            Source::Disk => "disk-cache",
            Source::Compiled => "compiled",
        }
    }
}

pub struct ComponentCache {
    engine: Engine,
    dir: Option<PathBuf>,
    engine_hash: u64,
    memory: Mutex<HashMap<[u8; 32], Component>>,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        // DefaultHasher is deterministic for a given Rust release; a toolchain upgrade
        // only turns the cache cold, which is safe.
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Self {
            engine: engine.clone(),
            dir,
            engine_hash: h.finish(),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the compiled component for the file at `path`. Blocking: call it from
    /// `spawn_blocking`.
    pub fn get(&self, path: &Path) -> Result<(Component, Source), String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let mut hasher = Sha256::new();
        hasher.update(&bytes);
        hasher.update(self.engine_hash.to_le_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        if let Some(c) = self.memory.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok((c, Source::Memory));
        }
        let (component, source) = match self.load_from_disk(&key) {
            Some(c) => (c, Source::Disk),
            None => {
                let c = Component::new(&self.engine, &bytes).map_err(|e| format!("{e:#}"))?;
                self.store_to_disk(&key, &c);
                (c, Source::Compiled)
            }
        };
        if let Ok(mut m) = self.memory.lock() {
            m.insert(key, component.clone());
        }
        Ok((component, source))
    }

    /// Drops in-memory entries not in `keep` (the components of the current snapshot),
    /// so plugin swaps during development do not accumulate code.
    pub fn retain(&self, keep: &[Component]) {
        if let Ok(mut m) = self.memory.lock() {
            m.retain(|_, c| keep.iter().any(|k| same(k, c)));
        }
    }

    fn entry(&self, key: &[u8; 32]) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.cwasm", hex::encode(key))))
    }

    fn load_from_disk(&self, key: &[u8; 32]) -> Option<Component> {
        let dir = self.dir.as_ref()?;
        let file = self.entry(key)?;
        if !trusted(dir) || !trusted(&file) {
            return None;
        }
        // SAFETY: the artifact was written by this host (see the module docs and
        // `trusted`), under a name derived from the source bytes and this engine's
        // compatibility hash; wasmtime additionally checks the header for compatibility.
        match unsafe { Component::deserialize_file(&self.engine, &file) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "ignoring unusable compiled-plugin cache entry");
                let _ = std::fs::remove_file(&file);
                None
            }
        }
    }

    fn store_to_disk(&self, key: &[u8; 32], component: &Component) {
        let (Some(dir), Some(file)) = (self.dir.as_ref(), self.entry(key)) else {
            return;
        };
        let result = (|| -> std::io::Result<()> {
            create_private_dir(dir)?;
            let bytes = component
                .serialize()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
            write_private(&tmp, &bytes)?;
            std::fs::rename(&tmp, &file)
        })();
        if let Err(e) = result {
            // A cache that cannot be written (e.g. read-only volume) only costs start-up time.
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write compiled-plugin cache");
        }
    }
}

/// Components are reference-counted handles; equality of their serialized identity is not
/// exposed, so compare by the address of the shared compiled code.
fn same(a: &Component, b: &Component) -> bool {
    a.image_range() == b.image_range()
}

#[cfg(unix)]
fn trusted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            !m.file_type().is_symlink() && m.uid() == me && m.mode() & 0o022 == 0
        }
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn trusted(path: &Path) -> bool {
    path.exists()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
