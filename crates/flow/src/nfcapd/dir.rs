//! Directories of nfcapd files in time order, like `nfdump -R DIR`: every file named
//! `nfcapd.YYYYMMDDhhmm[ss][…]` below the directory (subdirectories too, as nfcapd's `-S`
//! layouts make them), ordered by the time in the name, then by path. The file nfcapd is still
//! writing (`nfcapd.current.*`) and hidden files are left out.

use std::path::{Path, PathBuf};

use super::error::NfcapdError;

/// The time stamp digits of an nfcapd file name (`nfcapd.202411181315` → `202411181315`), if
/// it is one.
fn stamp(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("nfcapd.")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (digits >= 12).then(|| &rest[..digits])
}

/// The nfcapd files below `dir`, oldest first. A file given instead of a directory is returned
/// alone.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, NfcapdError> {
    let io = |path: &Path, source| NfcapdError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(|e| io(dir, e))?;
    if !meta.is_dir() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let entry = entry.map_err(|e| io(&d, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if let Some(stamp) = stamp(name) {
                // Minute-resolution names sort as if at second 00.
                let key = format!("{stamp:0<14}");
                found.push((key, path));
            }
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_stamp_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("2024/11/18");
        std::fs::create_dir_all(&sub).unwrap();
        for (d, name) in [
            (dir.path(), "nfcapd.202411181320"),
            (sub.as_path(), "nfcapd.202411181315"),
            (dir.path(), "nfcapd.20241118131730"),
            (dir.path(), "nfcapd.current.1234"),
            (dir.path(), ".nfcapd.202411181300"),
            (dir.path(), "nfcapd.202411181310+0100"),
            (dir.path(), "notes.txt"),
        ] {
            std::fs::write(d.join(name), b"").unwrap();
        }
        let names: Vec<_> = list_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "nfcapd.202411181310+0100",
                "nfcapd.202411181315",
                "nfcapd.20241118131730",
                "nfcapd.202411181320"
            ]
        );
        let one = dir.path().join("nfcapd.202411181320");
        assert_eq!(list_files(&one).unwrap(), std::slice::from_ref(&one));
        assert!(list_files(&dir.path().join("missing")).is_err());
    }
}
