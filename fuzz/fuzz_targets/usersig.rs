//! A userSig or privateMapKey presented for verification: as text, and (to get past the
//! envelope) the bytes as the document inside a well-formed envelope (zlib, TRTC's base64).
#![no_main]
use base64::Engine;
use std::io::Write;

const APP: u64 = 1_400_000_000;
const KEY: &str = "fuzz-secret";
const NOW: u64 = 1_700_000_000;

fn verify(sig: &str) {
    let _ = trtc_usersig::verify_user_sig(sig, APP, KEY, "alice", NOW);
    let _ = trtc_usersig::verify_private_map_key(sig, APP, KEY, "alice", NOW);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        verify(text);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    if z.write_all(data).is_ok() {
        if let Ok(packed) = z.finish() {
            let b64 = base64::engine::general_purpose::STANDARD.encode(packed);
            verify(&b64.replace('+', "*").replace('/', "-").replace('=', "_"));
        }
    }
});
