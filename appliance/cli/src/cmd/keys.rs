//! Keys and trust: `vigil keygen` and `vigil trust`.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use vigil_cli::client::Client;
use vigil_cli::exit::Exit;
use vigil_cli::{config, trust};
use vigil_core::{NoteVerifier, SigningKey, keyfile, sig};

use super::{Ctx, Fail, Res, expect_ok, usage};

pub(crate) fn keygen(name: &str, dir: &Path) -> Res<()> {
    if !vigil_core::statement::valid_name(name) {
        return Err(usage(format!(
            "`{name}` is not a valid name ([a-z0-9][a-z0-9._@-]{{0,63}})"
        )));
    }
    let (priv_path, pub_path) = (dir.join(name), dir.join(format!("{name}.pub")));
    for p in [&priv_path, &pub_path] {
        if p.exists() {
            return Err(usage(format!(
                "{} exists; refusing to overwrite",
                p.display()
            )));
        }
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| {
        Fail(
            Exit::VerificationFailed,
            format!("random number generator: {e}"),
        )
    })?;
    let key = SigningKey::from_bytes(&seed);
    let text =
        keyfile::encode(&key, name).map_err(|e| Fail(Exit::VerificationFailed, e.to_string()))?;
    write_private(&priv_path, text.as_bytes())?;
    let line = sig::openssh_public_key_line(&key.verifying_key(), name);
    std::fs::write(&pub_path, format!("{line}\n"))
        .map_err(|e| usage(format!("{}: {e}", pub_path.display())))?;
    println!("{line}");
    eprintln!(
        "wrote {} (private, 0600) and {}",
        priv_path.display(),
        pub_path.display()
    );
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Res<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    f.write_all(data)
        .map_err(|e| usage(format!("{}: {e}", path.display())))
}

pub(crate) fn trust_cmd(ctx: &Ctx, url: &str, fingerprint: Option<String>) -> Res<()> {
    let url = url.trim_end_matches('/').to_owned();
    let ca = trust::fetch_ca(&url).map_err(|e| Fail(Exit::Unreachable, e))?;
    let fp = trust::fingerprint_pem(&ca)
        .ok_or_else(|| Fail(Exit::Unreachable, "the CA certificate is unreadable".into()))?;
    println!("CA fingerprint: {fp}");
    match fingerprint {
        Some(want) if want.trim() == fp => {}
        Some(want) => {
            return Err(Fail(
                Exit::VerificationFailed,
                format!(
                    "fingerprint mismatch: expected {want}, the appliance presented {fp}; nothing saved"
                ),
            ));
        }
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(usage(
                    "not a terminal: pass --fingerprint (as shown on the LCD) to pin non-interactively",
                ));
            }
            print!("Does this match the fingerprint on the appliance's screen? [y/N] ");
            let _ = std::io::stdout().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Err(Fail(
                    Exit::VerificationFailed,
                    "not confirmed; nothing saved".into(),
                ));
            }
        }
    }
    // From here on, only that CA is trusted.
    let c = Client::new(&url, &ca).map_err(|e| usage(e.to_string()))?;
    let vkey = expect_ok(
        c.get("/v1/log/vkey")
            .map_err(|e| Fail(Exit::Unreachable, e.to_string()))?,
    )?
    .text();
    let v = NoteVerifier::from_vkey(vkey.trim()).map_err(|e| {
        Fail(
            Exit::VerificationFailed,
            format!("the appliance's vkey: {e}"),
        )
    })?;
    println!("log key: {}", v.vkey());
    println!(
        "log key fingerprint: {} (also on the LCD at first boot)",
        sig::fingerprint(v.key())
    );
    std::fs::create_dir_all(&ctx.dir).map_err(|e| usage(format!("{}: {e}", ctx.dir.display())))?;
    std::fs::write(ctx.dir.join("ca.pem"), &ca).map_err(|e| usage(e.to_string()))?;
    std::fs::write(ctx.dir.join("log.vkey"), format!("{}\n", v.vkey()))
        .map_err(|e| usage(e.to_string()))?;
    let mut file = ctx.file.clone();
    file.url = Some(url);
    config::save(&ctx.dir, &file).map_err(usage)?;
    println!("saved to {}", ctx.dir.display());
    Ok(())
}
