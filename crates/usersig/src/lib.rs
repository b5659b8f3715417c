//! TLS-Sig-API v2 compatible userSigs and privateMapKeys (trtc-reference §6).
//!
//! A userSig is an HMAC-SHA256 over a few `TLS.*` lines, keyed with the application's secret,
//! wrapped in a JSON document, zlib-compressed and base64'd with `+/=` swapped for `*-_`.
//! Tickets made by Tencent's libraries verify here and ours verify there.
//!
//! | item | what it does |
//! |---|---|
//! | [`gen_user_sig`] | a userSig for a user |
//! | [`gen_private_map_key`] | a room-permission ticket (userSig with a binary userbuf) |
//! | [`decode`] | the JSON document inside a ticket, unverified |
//! | [`verify_user_sig`] / [`verify_private_map_key`] | checks with the current time passed in |
//!
//! Nothing here reads the clock: callers pass `now` (Unix seconds), so expiry is testable.

#![warn(missing_docs)]

mod document;
mod userbuf;

pub use document::{decode, SigDocument};
pub use userbuf::{PmkRoom, PrivateMapKey, PRIVILEGE_ALL, PRIVILEGE_ENTER_ROOM};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Default validity of a generated userSig, as TRTC's GenerateTestUserSig uses: 7 days.
pub const DEFAULT_EXPIRE_SECS: u64 = 604_800;

/// Why a ticket did not verify. [`VerifyError::word`] gives the CLI's reason word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a ticket at all: bad base64, zlib, JSON, missing fields, or the wrong kind.
    #[error("malformed userSig: {0}")]
    Malformed(String),
    /// Issued for another application.
    #[error("userSig was issued for sdkAppId {found}, not {expected}")]
    SdkAppIdMismatch {
        /// The application asked about.
        expected: u64,
        /// The one in the ticket.
        found: u64,
    },
    /// Issued for another user.
    #[error("userSig was issued for user {found:?}, not {expected:?}")]
    IdentifierMismatch {
        /// The user asked about.
        expected: String,
        /// The one in the ticket.
        found: String,
    },
    /// Past `time + expire`.
    #[error("userSig expired at {expired_at} (now {now})")]
    Expired {
        /// Unix seconds when it stopped being valid.
        expired_at: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// The HMAC does not match: wrong secret or altered fields.
    #[error("userSig signature does not match")]
    SignatureMismatch,
}

impl VerifyError {
    /// The one-word reason `usersig verify` prints (qa-contract §1).
    pub fn word(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::SdkAppIdMismatch { .. } => "sdkappid-mismatch",
            VerifyError::IdentifierMismatch { .. } => "identifier-mismatch",
            VerifyError::Expired { .. } => "expired",
            VerifyError::SignatureMismatch => "signature-mismatch",
        }
    }
}

/// The base64 HMAC over the content lines, exactly as TLS-Sig v2 defines them.
fn hmac_sig(
    secret: &str,
    identifier: &str,
    sdk_app_id: u64,
    time: u64,
    expire: u64,
    userbuf_b64: Option<&str>,
) -> Vec<u8> {
    let mut content = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(buf) = userbuf_b64 {
        content.push_str(&format!("TLS.userbuf:{buf}\n"));
    }
    let mut mac = hmac_with(secret);
    mac.update(content.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hmac_with(secret: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of every length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

fn sign(
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    expire: u64,
    now: u64,
    userbuf: Option<Vec<u8>>,
) -> String {
    let userbuf_b64 = userbuf.map(|b| STANDARD.encode(b));
    let sig = STANDARD.encode(hmac_sig(
        secret,
        user_id,
        sdk_app_id,
        now,
        expire,
        userbuf_b64.as_deref(),
    ));
    SigDocument {
        ver: "2.0".into(),
        identifier: user_id.into(),
        sdk_app_id,
        expire,
        time: now,
        userbuf: userbuf_b64,
        sig,
    }
    .encode()
}

/// A userSig for `user_id`, valid `expire` seconds from `now` (Unix seconds).
pub fn gen_user_sig(sdk_app_id: u64, secret: &str, user_id: &str, expire: u64, now: u64) -> String {
    sign(sdk_app_id, secret, user_id, expire, now, None)
}

/// A privateMapKey: a ticket granting `privilege` (bits of reference §6.4) in one room.
pub fn gen_private_map_key(
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    room: &PmkRoom,
    privilege: u32,
    expire: u64,
    now: u64,
) -> String {
    let pmk = PrivateMapKey {
        account: user_id.into(),
        sdk_app_id: sdk_app_id as u32,
        room: room.clone(),
        expire_at: now.saturating_add(expire).min(u32::MAX as u64) as u32,
        privilege,
    };
    sign(
        sdk_app_id,
        secret,
        user_id,
        expire,
        now,
        Some(pmk.to_bytes()),
    )
}

/// Checks a ticket's fields in the order of Tencent's verifier, then its HMAC in constant time.
fn verify_document(
    sig: &str,
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    now: u64,
    want_userbuf: bool,
) -> Result<SigDocument, VerifyError> {
    let doc = decode(sig)?;
    if doc.sdk_app_id != sdk_app_id {
        return Err(VerifyError::SdkAppIdMismatch {
            expected: sdk_app_id,
            found: doc.sdk_app_id,
        });
    }
    if doc.identifier != user_id {
        return Err(VerifyError::IdentifierMismatch {
            expected: user_id.into(),
            found: doc.identifier.clone(),
        });
    }
    let expired_at = doc.time.saturating_add(doc.expire);
    if now > expired_at {
        return Err(VerifyError::Expired { expired_at, now });
    }
    match (want_userbuf, doc.userbuf.is_some()) {
        (true, false) => {
            return Err(VerifyError::Malformed(
                "a userSig is not a privateMapKey".into(),
            ))
        }
        (false, true) => {
            return Err(VerifyError::Malformed(
                "a privateMapKey is not a userSig".into(),
            ))
        }
        _ => {}
    }
    let claimed = STANDARD
        .decode(doc.sig.as_bytes())
        .map_err(|_| VerifyError::Malformed("TLS.sig is not base64".into()))?;
    let mut content = format!(
        "TLS.identifier:{}\nTLS.sdkappid:{}\nTLS.time:{}\nTLS.expire:{}\n",
        doc.identifier, doc.sdk_app_id, doc.time, doc.expire
    );
    if let Some(buf) = &doc.userbuf {
        content.push_str(&format!("TLS.userbuf:{buf}\n"));
    }
    let mut mac = hmac_with(secret);
    mac.update(content.as_bytes());
    mac.verify_slice(&claimed)
        .map_err(|_| VerifyError::SignatureMismatch)?;
    Ok(doc)
}

/// Verifies a userSig for `user_id` at `now` (Unix seconds).
pub fn verify_user_sig(
    sig: &str,
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    now: u64,
) -> Result<SigDocument, VerifyError> {
    verify_document(sig, sdk_app_id, secret, user_id, now, false)
}

/// Verifies a privateMapKey and returns its grant. The caller checks the room and privileges.
pub fn verify_private_map_key(
    pmk: &str,
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    now: u64,
) -> Result<PrivateMapKey, VerifyError> {
    let doc = verify_document(pmk, sdk_app_id, secret, user_id, now, true)?;
    let raw = STANDARD
        .decode(doc.userbuf.as_deref().unwrap_or_default())
        .map_err(|_| VerifyError::Malformed("TLS.userbuf is not base64".into()))?;
    let grant = PrivateMapKey::from_bytes(&raw)
        .ok_or_else(|| VerifyError::Malformed("TLS.userbuf is not a privateMapKey".into()))?;
    if grant.account != user_id || u64::from(grant.sdk_app_id) != sdk_app_id {
        return Err(VerifyError::Malformed(
            "privateMapKey userbuf names another user or app".into(),
        ));
    }
    if now > u64::from(grant.expire_at) {
        return Err(VerifyError::Expired {
            expired_at: grant.expire_at.into(),
            now,
        });
    }
    Ok(grant)
}

#[cfg(test)]
mod tests;
