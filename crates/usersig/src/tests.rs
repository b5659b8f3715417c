use super::*;

const APP: u64 = 1_400_000_000;
const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
/// Reference §6.1: made by Tencent's PyPI package at time 1700000000, expire 86400.
const VECTOR: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpQJlLMxM4IIlmbkgIUNzNMXFmekg44P93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBk68y0A__";
const VECTOR_HMAC: &str = "SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc=";

#[test]
fn tencent_vector_decodes_and_verifies() {
    let doc = verify_user_sig(VECTOR, APP, KEY, "xiaojun", 1_700_000_100).unwrap();
    assert_eq!(doc.sig, VECTOR_HMAC);
    assert_eq!((doc.time, doc.expire), (1_700_000_000, 86_400));
    assert_eq!(
        verify_user_sig(VECTOR, APP, KEY, "xiaojun", 1_700_086_401)
            .unwrap_err()
            .word(),
        "expired"
    );
}

#[test]
fn generated_sig_carries_the_vector_hmac() {
    let sig = gen_user_sig(APP, KEY, "xiaojun", 86_400, 1_700_000_000);
    let doc = decode(&sig).unwrap();
    assert_eq!(doc.sig, VECTOR_HMAC);
    assert_eq!(doc.ver, "2.0");
    assert!(sig
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "*-_".contains(c)));
}

#[test]
fn every_rejection_has_its_word() {
    let now = 1_800_000_000;
    let sig = gen_user_sig(APP, KEY, "alice", 60, now);
    assert!(
        verify_user_sig(&sig, APP, KEY, "alice", now + 60).is_ok(),
        "valid through the last second"
    );
    let word = |r: Result<SigDocument, VerifyError>| r.unwrap_err().word();
    assert_eq!(
        word(verify_user_sig(&sig, APP, KEY, "alice", now + 61)),
        "expired"
    );
    assert_eq!(
        word(verify_user_sig(&sig, APP, "other-key", "alice", now)),
        "signature-mismatch"
    );
    assert_eq!(
        word(verify_user_sig(&sig, APP, KEY, "bob", now)),
        "identifier-mismatch"
    );
    assert_eq!(
        word(verify_user_sig(&sig, APP + 1, KEY, "alice", now)),
        "sdkappid-mismatch"
    );
    assert_eq!(
        word(verify_user_sig("not a sig", APP, KEY, "alice", now)),
        "malformed"
    );
    assert_eq!(
        word(verify_user_sig("", APP, KEY, "alice", now)),
        "malformed"
    );
}

#[test]
fn tampered_fields_fail_the_hmac() {
    let now = 1_800_000_000;
    let mut doc = decode(&gen_user_sig(APP, KEY, "alice", 60, now)).unwrap();
    doc.expire = 10_000_000;
    let forged = doc.encode();
    assert_eq!(
        verify_user_sig(&forged, APP, KEY, "alice", now + 100).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn private_map_key_round_trips_for_both_room_kinds() {
    let now = 1_800_000_000;
    for room in [PmkRoom::Num(1234), PmkRoom::Str("team room".into())] {
        let pmk = gen_private_map_key(APP, KEY, "alice", &room, PRIVILEGE_ALL, 3600, now);
        let grant = verify_private_map_key(&pmk, APP, KEY, "alice", now).unwrap();
        assert!(grant.allows(&room, PRIVILEGE_ENTER_ROOM));
        assert!(!grant.allows(&PmkRoom::Num(1), PRIVILEGE_ENTER_ROOM));
        assert_eq!(grant.expire_at as u64, now + 3600);
        // A privateMapKey is not a userSig, and the other way round.
        assert_eq!(
            verify_user_sig(&pmk, APP, KEY, "alice", now)
                .unwrap_err()
                .word(),
            "malformed"
        );
    }
    let sig = gen_user_sig(APP, KEY, "alice", 60, now);
    assert!(verify_private_map_key(&sig, APP, KEY, "alice", now).is_err());
    let narrow = gen_private_map_key(APP, KEY, "alice", &PmkRoom::Num(5), 42, 60, now);
    let grant = verify_private_map_key(&narrow, APP, KEY, "alice", now).unwrap();
    assert!(grant.allows(&PmkRoom::Num(5), PRIVILEGE_ENTER_ROOM));
    assert!(
        !grant.allows(&PmkRoom::Num(5), 16),
        "42 does not grant sending video"
    );
}

#[test]
fn userbuf_layout_matches_the_reference() {
    let pmk = PrivateMapKey {
        account: "ab".into(),
        sdk_app_id: 1,
        room: PmkRoom::Str("r".into()),
        expire_at: 2,
        privilege: 255,
    };
    let bytes = pmk.to_bytes();
    assert_eq!(
        bytes,
        [
            1, 0, 2, b'a', b'b', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 255, 0, 0, 0, 0, 0,
            1, b'r'
        ]
    );
    assert_eq!(PrivateMapKey::from_bytes(&bytes), Some(pmk));
    for cut in 0..bytes.len() {
        assert_eq!(PrivateMapKey::from_bytes(&bytes[..cut]), None);
    }
}

#[test]
fn garbage_never_panics() {
    // Deterministic pseudo-random inputs: raw bytes, valid base64 of junk, and zlib of junk JSON.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = gen_user_sig(APP, KEY, "alice", 60, 1_800_000_000);
    for i in 0..3000 {
        let len = (next() % 300) as usize;
        let s: String = match i % 3 {
            0 => (0..len).map(|_| char::from((next() % 128) as u8)).collect(),
            1 => {
                let mut v: Vec<u8> = valid.bytes().collect();
                if !v.is_empty() {
                    let at = (next() as usize) % v.len();
                    v[at] = b"ABCxyz019*-_"[(next() % 12) as usize];
                }
                String::from_utf8(v).unwrap()
            }
            _ => {
                let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let mut doc = decode(&valid).unwrap();
                doc.identifier = String::from_utf8_lossy(&junk).into_owned();
                doc.encode()
            }
        };
        let _ = verify_user_sig(&s, APP, KEY, "alice", 1_800_000_000);
        let _ = verify_private_map_key(&s, APP, KEY, "alice", 1_800_000_000);
    }
}

#[test]
fn zlib_bombs_are_refused() {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![b' '; 10 << 20]).unwrap();
    let b64 = STANDARD
        .encode(z.finish().unwrap())
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_");
    assert_eq!(decode(&b64).unwrap_err().word(), "malformed");
}
