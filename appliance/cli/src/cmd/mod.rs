//! The verbs of `vigil`, one file each group, over what they share: the context (flags, the
//! saved configuration, pinned keys), failures with their exit code, and the HTTP answers.

use std::path::PathBuf;

use vigil_cli::client::{Answer, Client};
use vigil_cli::config::FileConfig;
use vigil_cli::exit::Exit;
use vigil_core::{NoteVerifier, SigningKey, keyfile};

pub(crate) mod bridge;
pub(crate) mod checkin;
pub(crate) mod keys;
pub(crate) mod log;
pub(crate) mod send;

/// A failure: how `vigil` exits, and what it says.
pub(crate) struct Fail(pub(crate) Exit, pub(crate) String);

pub(crate) type Res<T> = Result<T, Fail>;

pub(crate) fn usage(m: impl Into<String>) -> Fail {
    Fail(Exit::Usage, m.into())
}

pub(crate) struct Ctx {
    pub(crate) dir: PathBuf,
    pub(crate) file: FileConfig,
    pub(crate) url: Option<String>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) key_name: Option<String>,
    pub(crate) verbose: bool,
    pub(crate) retries: u32,
}

impl Ctx {
    pub(crate) fn url(&self) -> Res<String> {
        self.url
            .clone()
            .or_else(|| self.file.url.clone())
            .ok_or_else(|| usage("no appliance URL: run `vigil trust URL` or pass --url"))
    }
    pub(crate) fn ca(&self) -> Res<String> {
        std::fs::read_to_string(self.dir.join("ca.pem"))
            .map_err(|_| usage("no pinned CA: run `vigil trust URL` first"))
    }
    pub(crate) fn vkey(&self) -> Res<NoteVerifier> {
        let t = std::fs::read_to_string(self.dir.join("log.vkey"))
            .map_err(|_| usage("no pinned log key: run `vigil trust URL` first"))?;
        NoteVerifier::from_vkey(t.trim()).map_err(|e| usage(format!("pinned log key: {e}")))
    }
    pub(crate) fn client(&self) -> Res<Client> {
        Client::new(&self.url()?, &self.ca()?).map_err(|e| usage(e.to_string()))
    }
    pub(crate) fn signing_key(&self) -> Res<(String, SigningKey)> {
        let path = self
            .key
            .clone()
            .or_else(|| self.file.identity.clone())
            .ok_or_else(|| usage("no signing key: pass -i FILE or set VIGIL_IDENTITY"))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let key = keyfile::decode(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let name = self
            .key_name
            .clone()
            .or_else(|| self.file.key_name.clone())
            .or_else(|| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .map(|n| n.trim_end_matches(".key").to_owned())
            })
            .ok_or_else(|| usage("cannot tell the key's enrolled name: pass --key-name"))?;
        Ok((name, key))
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn expect_ok(a: Answer) -> Res<Answer> {
    match a.status {
        200..=299 => Ok(a),
        s => Err(Fail(Exit::for_status(s), describe(&a))),
    }
}

pub(crate) fn describe(a: &Answer) -> String {
    a.summary()
}

/// Sends with retries: on 429, 503 and unreachable, waits (Retry-After, else 1, 2, 4… s).
pub(crate) fn reader(ctx: &Ctx) -> Res<(Client, String, SigningKey)> {
    let (name, key) = ctx.signing_key()?;
    Ok((ctx.client()?, name, key))
}

pub(crate) fn signed_get(c: &Client, name: &str, key: &SigningKey, path: &str) -> Res<Answer> {
    expect_ok(
        c.signed_get(path, name, key, now_secs())
            .map_err(|e| Fail(Exit::Unreachable, e.to_string()))?,
    )
}

pub(crate) fn print_public(ctx: &Ctx, path: &str) -> Res<()> {
    let a = expect_ok(
        ctx.client()?
            .get(path)
            .map_err(|e| Fail(Exit::Unreachable, e.to_string()))?,
    )?;
    print!("{}", a.text());
    Ok(())
}

pub(crate) fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
