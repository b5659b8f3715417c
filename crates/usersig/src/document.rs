//! The JSON document inside a ticket and its outer encoding (zlib + base64 with `*-_`).

use crate::VerifyError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde::Serialize;
use serde_json::Value;
use std::io::{Read, Write};

/// Inflated documents larger than this are refused: a ticket is a few hundred bytes, and a
/// small zlib bomb must not cost the server memory.
const MAX_DOCUMENT_BYTES: u64 = 64 * 1024;

/// The fields of a TLS-Sig v2 ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigDocument {
    /// Always "2.0".
    #[serde(rename = "TLS.ver")]
    pub ver: String,
    /// The user ID.
    #[serde(rename = "TLS.identifier")]
    pub identifier: String,
    /// The application.
    #[serde(rename = "TLS.sdkappid")]
    pub sdk_app_id: u64,
    /// Validity in seconds from `time`.
    #[serde(rename = "TLS.expire")]
    pub expire: u64,
    /// Issue time, Unix seconds.
    #[serde(rename = "TLS.time")]
    pub time: u64,
    /// Standard base64 of the privateMapKey's binary userbuf, for privateMapKeys only.
    #[serde(rename = "TLS.userbuf", skip_serializing_if = "Option::is_none")]
    pub userbuf: Option<String>,
    /// Standard base64 of the HMAC-SHA256.
    #[serde(rename = "TLS.sig")]
    pub sig: String,
}

impl SigDocument {
    /// JSON → zlib → base64 → `+/=` to `*-_`.
    pub(crate) fn encode(&self) -> String {
        // Serialising a struct of strings and integers into memory cannot fail.
        let json = serde_json::to_vec(self).expect("document serialises");
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&json).expect("writing to a Vec cannot fail");
        let packed = z.finish().expect("finishing into a Vec cannot fail");
        STANDARD
            .encode(packed)
            .chars()
            .map(|c| match c {
                '+' => '*',
                '/' => '-',
                '=' => '_',
                c => c,
            })
            .collect()
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("document serialises")
    }
}

/// Reverses the outer encoding and parses the document, without checking the signature.
pub fn decode(sig: &str) -> Result<SigDocument, VerifyError> {
    let malformed = |why: &str| VerifyError::Malformed(why.to_owned());
    if sig.is_empty() {
        return Err(malformed("empty"));
    }
    let b64: String = sig
        .trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let packed = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| malformed("not base64"))?;
    let mut json = Vec::new();
    ZlibDecoder::new(packed.as_slice())
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|_| malformed("not zlib"))?;
    if json.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(malformed("document too large"));
    }
    let v: Value = serde_json::from_slice(&json).map_err(|_| malformed("not JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("not a JSON object"))?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    // Some implementations write numbers as strings; accept both.
    let num = |k: &str| match obj.get(k) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let field = |k: &str| format!("field {k} missing or invalid");
    Ok(SigDocument {
        ver: text("TLS.ver").ok_or_else(|| malformed(&field("TLS.ver")))?,
        identifier: text("TLS.identifier").ok_or_else(|| malformed(&field("TLS.identifier")))?,
        sdk_app_id: num("TLS.sdkappid").ok_or_else(|| malformed(&field("TLS.sdkappid")))?,
        expire: num("TLS.expire").ok_or_else(|| malformed(&field("TLS.expire")))?,
        time: num("TLS.time").ok_or_else(|| malformed(&field("TLS.time")))?,
        userbuf: text("TLS.userbuf"),
        sig: text("TLS.sig").ok_or_else(|| malformed(&field("TLS.sig")))?,
    })
}
