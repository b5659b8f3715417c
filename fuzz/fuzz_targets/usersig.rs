//! A userSig or privateMapKey presented for verification: as text, and (to get past the
//! envelope) the bytes as the document inside a well-formed envelope (zlib, TRTC's base64), so
//! the JSON and signature checks see arbitrary documents.
#![no_main]
use base64::Engine;

const APP: u64 = 1_400_000_000;
const KEY: &str = "fuzz-secret";
const NOW: u64 = 1_700_000_000;

fn verify(sig: &str) {
    let _ = trtc_usersig::verify_user_sig(sig, APP, KEY, "alice", NOW);
    let _ = trtc_usersig::verify_private_map_key(sig, APP, KEY, "alice", NOW);
}

/// `data` as a zlib stream of stored blocks: a valid envelope for any bytes, without a
/// compressor's state to set up on every run (which was most of the target's cost).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let len = chunk.len() as u16;
        out.push(u8::from(chunks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        verify(text);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(zlib_stored(data));
    verify(&b64.replace('+', "*").replace('/', "-").replace('=', "_"));
});
