//! `png-shows FILE TEXT...`: whether a display PNG (`vigil display`, `GET /v1/display.png`)
//! shows each TEXT, drawn as the appliance draws it. Exit 0 when all are shown, 1 when one is
//! not, 2 on bad input. Used by `image/boot-test` against the appliance booted under qemu.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, texts @ ..] = args.as_slice() else {
        eprintln!("usage: png-shows FILE TEXT...");
        return ExitCode::from(2);
    };
    if texts.is_empty() {
        eprintln!("usage: png-shows FILE TEXT...");
        return ExitCode::from(2);
    }
    let png = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("png-shows: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    for text in texts {
        match vigil_display::panel::shows_text(&png, text) {
            Ok(true) => println!("{file} shows \"{text}\""),
            Ok(false) => {
                eprintln!("png-shows: {file} does not show \"{text}\"");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("png-shows: {file}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
