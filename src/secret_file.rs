//! Secret material on disk: random bytes from the system CSPRNG, files created owner-only.

use std::io::Write;
use std::path::Path;

pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut buf = [0_u8; N];
    aws_lc_rs::rand::fill(&mut buf)
        .map_err(|_| std::io::Error::other("the system random number generator failed"))?;
    Ok(buf)
}

/// Creates `path` (and its directory) with mode 0600; fails if it already exists, so a
/// key is never overwritten.
pub fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A development key file: its text when it exists; else, when `create`, a new file holding
/// 32 random bytes in hex (returned with `true`); else `None`.
pub fn read_or_create_dev_key(
    path: &Path,
    create: bool,
) -> std::io::Result<Option<(String, bool)>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some((text, false))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Ok(None);
            }
            let text = format!("{}\n", hex::encode(random_bytes::<32>()?));
            write_new(path, text.as_bytes())?;
            Ok(Some((text, true)))
        }
        Err(e) => Err(e),
    }
}
