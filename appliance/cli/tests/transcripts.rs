//! CLI transcripts (trycmd): usage, help and error messages are pinned.

#[test]
fn cli_transcripts() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
