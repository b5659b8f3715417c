//! The two media connections as the core sees them. The publisher is ours to build: created
//! once the server accepts something we publish, rebuilt when it fails, when it does not come
//! up in time, and after a session that lost the server's side of it — with a growing pause
//! between attempts, and one onError only if it keeps failing. The subscriber is the server's
//! to build: we answer its offers, and it offers a new connection when the old one is gone.

use super::{Effect, Outbox};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use trtc_protocol::codes::ERR_FAILED;
use trtc_protocol::{ClientMessage, MediaState};
use trtc_rtc::client::ConnRole;
use trtc_rtc::LinkState;

/// A publisher that is not connected this long after it was created is given up and rebuilt
/// (an offer or answer lost with a signalling connection, a server that never answered).
pub(super) const CONNECT_DEADLINE: Duration = Duration::from_secs(10);
/// The first pause before rebuilding a failed publisher; doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(8);
/// Failures in a row before the app hears about them (one onError(−1) per streak); fewer are
/// repaired before a person would notice.
const FAILURES_REPORTED: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Publisher {
    #[default]
    None,
    Creating {
        token: u64,
        since: Instant,
    },
    /// The offer is out.
    Offered {
        conn: u64,
        since: Instant,
    },
    /// The answer is applied; ICE and DTLS are under way.
    Answered {
        conn: u64,
        since: Instant,
    },
    Up {
        conn: u64,
    },
    /// Nothing heard for a while; it may come back.
    Down {
        conn: u64,
    },
    Retry {
        at: Instant,
    },
}

#[derive(Debug, Default)]
pub(super) struct Links {
    publisher: Publisher,
    failures: u32,
    reported: bool,
    subscriber: Option<u64>,
}

impl Links {
    fn conn(&self) -> Option<u64> {
        match self.publisher {
            Publisher::Offered { conn, .. }
            | Publisher::Answered { conn, .. }
            | Publisher::Up { conn }
            | Publisher::Down { conn } => Some(conn),
            _ => None,
        }
    }

    /// The token of the publisher being created, if one is.
    #[cfg(test)]
    pub(super) fn creating(&self) -> Option<u64> {
        match self.publisher {
            Publisher::Creating { token, .. } => Some(token),
            _ => None,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self.publisher {
            Publisher::Retry { at } => Some(at),
            Publisher::Creating { since, .. }
            | Publisher::Offered { since, .. }
            | Publisher::Answered { since, .. } => Some(since + CONNECT_DEADLINE),
            _ => None,
        }
    }

    fn create(&mut self, now: Instant, bind_ip: IpAddr, token: u64, out: &mut Outbox) {
        self.publisher = Publisher::Creating { token, since: now };
        out.effect(Effect::CreatePublisher { token, bind_ip });
    }

    /// The server accepts something we publish: a publisher is needed.
    pub(super) fn want_publisher(
        &mut self,
        now: Instant,
        bind_ip: IpAddr,
        token: u64,
        out: &mut Outbox,
    ) {
        if self.publisher == Publisher::None {
            self.create(now, bind_ip, token, out);
        }
    }

    fn fail(&mut self, now: Instant, why: &str, out: &mut Outbox) {
        tracing::debug!(
            why,
            failures = self.failures + 1,
            "publisher connection rebuilt"
        );
        if self.publisher != Publisher::None {
            out.effect(Effect::ClosePublisher);
        }
        self.failures += 1;
        if self.failures >= FAILURES_REPORTED && !self.reported {
            self.reported = true;
            out.error(
                ERR_FAILED,
                format!(
                    "publishing media connection failed {} times ({why}); still retrying",
                    self.failures
                ),
            );
        }
        let factor = 1u32 << (self.failures - 1).min(6);
        let pause = RETRY_FIRST.saturating_mul(factor).min(RETRY_MAX);
        self.publisher = Publisher::Retry { at: now + pause };
    }

    pub(super) fn publisher_created(
        &mut self,
        token: u64,
        result: Result<(u64, String), String>,
        in_room: bool,
        now: Instant,
        out: &mut Outbox,
    ) {
        let Publisher::Creating { token: wanted, .. } = self.publisher else {
            return;
        };
        if wanted != token {
            return;
        }
        match result {
            Ok(_) if !in_room => {
                out.effect(Effect::ClosePublisher);
                self.publisher = Publisher::None;
            }
            Ok((conn, sdp)) => {
                self.publisher = Publisher::Offered { conn, since: now };
                out.send(ClientMessage::PublishOffer { sdp });
            }
            Err(e) => self.fail(now, &e, out),
        }
    }

    pub(super) fn publish_answer(&mut self, sdp: String, out: &mut Outbox) {
        if let Publisher::Offered { conn, since } = self.publisher {
            self.publisher = Publisher::Answered { conn, since };
            out.effect(Effect::ApplyAnswer { conn, sdp });
        }
    }

    pub(super) fn publisher_answered(
        &mut self,
        conn: u64,
        result: Result<(), String>,
        now: Instant,
        out: &mut Outbox,
    ) {
        if let Err(e) = result {
            if self.conn() == Some(conn) {
                self.fail(now, &format!("the answer was refused: {e}"), out);
            }
        }
    }

    /// A connection's state changed; true when the publisher just connected.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn link(
        &mut self,
        now: Instant,
        bind_ip: Option<IpAddr>,
        token: u64,
        conn: u64,
        role: ConnRole,
        state: LinkState,
        accepted: MediaState,
        out: &mut Outbox,
    ) -> bool {
        if role == ConnRole::Subscriber {
            if state == LinkState::Connected {
                self.subscriber = Some(conn);
            }
            // Its failures are the server's to repair: it offers a new connection.
            return false;
        }
        if self.conn() != Some(conn) {
            return false; // a replaced connection reporting its end
        }
        match state {
            LinkState::Connected => {
                let was_up = matches!(self.publisher, Publisher::Up { .. });
                self.publisher = Publisher::Up { conn };
                self.failures = 0;
                self.reported = false;
                !was_up
            }
            LinkState::Disconnected => {
                self.publisher = Publisher::Down { conn };
                false
            }
            LinkState::Failed => {
                self.fail(now, "the connection failed", out);
                if let (Some(ip), true) = (bind_ip, accepted.any()) {
                    // Nothing to wait for on the first failure of a streak.
                    if self.failures == 1 {
                        self.create(now, ip, token, out);
                    }
                }
                false
            }
            LinkState::Connecting => false,
        }
    }

    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        bind_ip: IpAddr,
        token: u64,
        accepted: MediaState,
        out: &mut Outbox,
    ) {
        match self.publisher {
            Publisher::Retry { at } if now >= at => {
                if accepted.any() {
                    self.create(now, bind_ip, token, out);
                } else {
                    self.publisher = Publisher::None;
                }
            }
            Publisher::Creating { since, .. }
            | Publisher::Offered { since, .. }
            | Publisher::Answered { since, .. }
                if now >= since + CONNECT_DEADLINE =>
            {
                self.fail(now, "it did not connect in time", out);
            }
            _ => {}
        }
    }

    /// The session resumed: a publisher that is not up (it went down, or its offer may have
    /// been lost with the old signalling connection) is rebuilt at once.
    pub(super) fn resumed(
        &mut self,
        now: Instant,
        bind_ip: IpAddr,
        token: u64,
        accepted: MediaState,
        out: &mut Outbox,
    ) {
        match self.publisher {
            Publisher::None | Publisher::Up { .. } => {}
            Publisher::Retry { .. } => {
                if accepted.any() {
                    self.create(now, bind_ip, token, out);
                }
            }
            _ => {
                out.effect(Effect::ClosePublisher);
                self.publisher = Publisher::None;
                if accepted.any() {
                    self.create(now, bind_ip, token, out);
                }
            }
        }
    }

    /// Both connections are over (left the room, or the server lost them).
    pub(super) fn reset(&mut self, out: &mut Outbox) {
        if self.publisher != Publisher::None {
            out.effect(Effect::ClosePublisher);
        }
        out.effect(Effect::CloseSubscriber);
        *self = Links::default();
    }

    pub(super) fn subscribe_offer(&mut self, bind_ip: IpAddr, sdp: String, out: &mut Outbox) {
        out.effect(Effect::AnswerSubscribe { bind_ip, sdp });
    }

    pub(super) fn subscriber_answered(&mut self, result: Result<String, String>, out: &mut Outbox) {
        match result {
            Ok(sdp) => out.send(ClientMessage::SubscribeAnswer { sdp }),
            Err(e) => out.error(ERR_FAILED, format!("receiving media failed: {e}")),
        }
    }
}
