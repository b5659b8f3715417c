//! The `usersig` tool as scripts call it (qa-contract §1), against reference §6's test vector.

mod common;
use common::bin;
use std::process::{Command, Output};

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const VECTOR: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpQJlLMxM4IIlmbkgIUNzNMXFmekg44P93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBk68y0A__";

fn usersig(args: &[&str]) -> Output {
    Command::new(bin("usersig"))
        .args(args)
        .output()
        .expect("usersig runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

#[test]
fn test_vector_verifies_with_now_and_gen_reproduces_its_hmac() {
    let ok = usersig(&[
        "verify",
        "--sdkappid",
        "1400000000",
        "--secret",
        KEY,
        "--userid",
        "xiaojun",
        "--now",
        "1700000100",
        VECTOR,
    ]);
    assert!(ok.status.success());
    assert_eq!(text(&ok.stdout), "ok");
    let gen = usersig(&[
        "gen",
        "--sdkappid",
        "1400000000",
        "--secret",
        KEY,
        "--userid",
        "xiaojun",
        "--expire",
        "86400",
        "--now",
        "1700000000",
    ]);
    let sig = text(&gen.stdout);
    let doc: serde_json::Value =
        serde_json::from_slice(&usersig(&["decode", &sig]).stdout).unwrap();
    assert_eq!(
        doc["TLS.sig"],
        "SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc="
    );
    assert_eq!(doc["TLS.sdkappid"], 1400000000);
    assert_eq!(doc["TLS.ver"], "2.0");
}

#[test]
fn verify_prints_exactly_one_reason_word() {
    let cases = [
        (
            vec![
                "--sdkappid",
                "1400000000",
                "--secret",
                KEY,
                "--userid",
                "xiaojun",
            ],
            "expired",
        ),
        (
            vec![
                "--sdkappid",
                "1400000000",
                "--secret",
                "nope",
                "--userid",
                "xiaojun",
                "--now",
                "1700000100",
            ],
            "signature-mismatch",
        ),
        (
            vec![
                "--sdkappid",
                "1400000000",
                "--secret",
                KEY,
                "--userid",
                "bob",
                "--now",
                "1700000100",
            ],
            "identifier-mismatch",
        ),
        (
            vec![
                "--sdkappid",
                "1400000001",
                "--secret",
                KEY,
                "--userid",
                "xiaojun",
                "--now",
                "1700000100",
            ],
            "sdkappid-mismatch",
        ),
    ];
    for (args, word) in cases {
        let mut all = vec!["verify"];
        all.extend(args);
        all.push(VECTOR);
        let out = usersig(&all);
        assert_eq!(out.status.code(), Some(1), "{word}");
        assert_eq!(text(&out.stderr), word);
        assert!(out.stdout.is_empty());
    }
    let out = usersig(&[
        "verify",
        "--sdkappid",
        "1",
        "--secret",
        "k",
        "--userid",
        "u",
        "garbage!",
    ]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(1), "malformed".to_string())
    );
    let out = usersig(&["decode", "garbage!"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(1), "malformed".to_string())
    );
}

#[test]
fn fresh_sigs_verify_and_pmk_carries_a_userbuf() {
    let sig = text(&usersig(&["gen", "--sdkappid", "5", "--secret", "s", "--userid", "u"]).stdout);
    let out = usersig(&[
        "verify",
        "--sdkappid",
        "5",
        "--secret",
        "s",
        "--userid",
        "u",
        &sig,
    ]);
    assert_eq!(text(&out.stdout), "ok");
    let pmk = text(
        &usersig(&[
            "pmk",
            "--sdkappid",
            "5",
            "--secret",
            "s",
            "--userid",
            "u",
            "--str-roomid",
            "r1",
            "--privilege",
            "42",
        ])
        .stdout,
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&usersig(&["decode", &pmk]).stdout).unwrap();
    assert!(doc["TLS.userbuf"].is_string());
    let out = usersig(&["pmk", "--sdkappid", "5", "--secret", "s", "--userid", "u"]);
    assert!(!out.status.success(), "a room is required");
}
