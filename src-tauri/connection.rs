//! Where the app connects and how it gets a userSig: the built-in server with local test
//! signing, a remote server with a test-signing secret, or a remote server with a userSig from
//! the customer's backend. Flags beat saved settings.

use crate::cli::Cli;
use crate::settings::ServerSettings;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// How userSigs are obtained.
#[derive(Debug, Clone)]
pub enum Signing {
    /// Sign locally with this secret (TRTC's GenerateTestUserSig; for testing only).
    TestSecret(String),
    /// Use this userSig as given (issued for one user ID).
    UserSig(String),
}

/// The resolved connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Whether this is the built-in server.
    pub builtin: bool,
    /// Signalling URL.
    pub server_url: String,
    /// The application.
    pub sdk_app_id: u32,
    /// How userSigs are obtained.
    pub signing: Signing,
}

/// What the UI shows about the connection. Never carries the secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// `builtin` or `remote`.
    pub mode: &'static str,
    /// Signalling URL.
    pub server_url: String,
    /// The application.
    pub sdk_app_id: u32,
    /// `test signing` or `userSig`.
    pub signing: &'static str,
    /// With a userSig: the user ID it was issued for, so the form can fill it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_sig_user: Option<String>,
}

impl Connection {
    /// The remote connection the flags and settings describe, if any; else `None` (built-in).
    pub fn remote(cli: &Cli, saved: &ServerSettings) -> Result<Option<Connection>, String> {
        let from_flags = cli.server.is_some();
        let url = match cli.server.clone().or_else(|| saved.server_url.clone()) {
            Some(u) => u,
            None => return Ok(None),
        };
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(format!(
                "server URL {url:?} must start with ws:// or wss://"
            ));
        }
        let pick = |flag: &Option<String>, saved: &Option<String>| {
            if from_flags {
                flag.clone()
            } else {
                flag.clone().or(saved.clone())
            }
        };
        let sdk_app_id = cli
            .sdkappid
            .or(if from_flags { None } else { saved.sdk_app_id })
            .ok_or("a remote server needs --sdkappid")?;
        let signing = match (
            pick(&cli.secret, &saved.secret),
            pick(&cli.usersig, &saved.user_sig),
        ) {
            (Some(secret), _) if !secret.is_empty() => Signing::TestSecret(secret),
            (_, Some(sig)) => Signing::UserSig(sig),
            _ => return Err("a remote server needs --secret (test signing) or --usersig".into()),
        };
        Ok(Some(Connection {
            builtin: false,
            server_url: url,
            sdk_app_id,
            signing,
        }))
    }

    /// A userSig for `user_id`; empty when the configured userSig cannot serve (the entry check
    /// then reports −3320 or the server −100018).
    pub fn user_sig(&self, user_id: &str) -> String {
        match &self.signing {
            Signing::TestSecret(secret) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                trtc_usersig::gen_user_sig(
                    self.sdk_app_id.into(),
                    secret,
                    user_id,
                    trtc_usersig::DEFAULT_EXPIRE_SECS,
                    now,
                )
            }
            Signing::UserSig(sig) => sig.clone(),
        }
    }

    /// The UI's view.
    pub fn info(&self) -> ConnectionInfo {
        let (signing, user_sig_user) = match &self.signing {
            Signing::TestSecret(_) => ("test signing", None),
            Signing::UserSig(sig) => (
                "userSig",
                trtc_usersig::decode(sig).ok().map(|d| d.identifier),
            ),
        };
        ConnectionInfo {
            mode: if self.builtin { "builtin" } else { "remote" },
            server_url: self.server_url.clone(),
            sdk_app_id: self.sdk_app_id,
            signing,
            user_sig_user,
        }
    }
}
