#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_e2e::fuzz::tlog_proof(data));
