//! vigil-cli: the client library behind the `vigil` command (and the e2e tests).

pub mod audit;
pub mod bridge;
pub mod client;
pub mod config;
pub mod exit;
pub mod time;
pub mod trust;

pub use client::{Answer, Client, ClientError};

use std::path::Path;

/// `text` when `ok` takes it (a statement with it builds: the display can show it); else its
/// printable ASCII, LF and TAB, every other character as `?`.
pub fn showable(text: &str, ok: impl Fn(&str) -> bool) -> String {
    if ok(text) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' | ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Replaces `path` with `bytes` so that a crash leaves the old file or the new one, whole and on
/// disk: written to a temporary file beside it, synced, renamed over it, and the directory
/// synced. For state a later run trusts (the audit's remembered checkpoint and enrolments, the
/// bridge's signed statements).
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = path.file_name() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ));
    };
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".tmp");
    let tmp = dir.join(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_write_replaces_the_file_whole_and_leaves_nothing_beside_it() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("checkpoint");
        write_durably(&p, b"first").expect("write");
        write_durably(&p, b"second, longer").expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["checkpoint"], "no temporary file is left");
    }

    #[test]
    fn a_durable_write_that_fails_leaves_the_old_file_as_it_was() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("checkpoint");
        std::fs::write(&p, b"old and whole").expect("old");
        // The temporary file cannot be made (its name is taken by a directory): the write fails
        // before the file it replaces is touched.
        std::fs::create_dir_all(d.path().join(".checkpoint.tmp/x")).expect("obstacle");
        assert!(write_durably(&p, b"new").is_err());
        assert_eq!(std::fs::read(&p).expect("read"), b"old and whole");
    }
}
