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
/// The pause before the second attempt of a streak (the first is at once); doubles up to
/// [`RETRY_MAX`].
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
    /// Each creation's token, so a publisher from an abandoned creation is recognised.
    last_token: u64,
    /// The newest subscriber connection, and whether it went down since it was last up.
    subscriber: Option<(u64, bool)>,
}

impl Links {
    /// The publisher connection of the moment, once created.
    pub(super) fn conn(&self) -> Option<u64> {
        match self.publisher {
            Publisher::Offered { conn, .. }
            | Publisher::Answered { conn, .. }
            | Publisher::Up { conn }
            | Publisher::Down { conn } => Some(conn),
            _ => None,
        }
    }

    /// The publisher connection failed, or went quiet, and is not back up yet.
    pub(super) fn publisher_lost(&self) -> bool {
        match self.publisher {
            Publisher::Down { .. } | Publisher::Retry { .. } => true,
            Publisher::Up { .. } | Publisher::None => false,
            _ => self.failures > 0,
        }
    }

    /// The subscriber connection went down and no newer one is up yet.
    pub(super) fn subscriber_lost(&self) -> bool {
        self.subscriber.is_some_and(|(_, lost)| lost)
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

    fn create(&mut self, now: Instant, bind_ip: IpAddr, out: &mut Outbox) {
        self.last_token += 1;
        let token = self.last_token;
        self.publisher = Publisher::Creating { token, since: now };
        out.effect(Effect::CreatePublisher { token, bind_ip });
    }

    /// A new publisher if the server accepts something of ours, else none.
    fn recreate(&mut self, now: Instant, bind_ip: IpAddr, accepted: MediaState, out: &mut Outbox) {
        if accepted.any() {
            self.create(now, bind_ip, out);
        } else {
            self.publisher = Publisher::None;
        }
    }

    /// The server accepts something we publish: a publisher is needed.
    pub(super) fn want_publisher(&mut self, now: Instant, bind_ip: IpAddr, out: &mut Outbox) {
        if self.publisher == Publisher::None {
            self.create(now, bind_ip, out);
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
        // Nothing to wait for on the first failure of a streak.
        let pause = match self.failures {
            1 => Duration::ZERO,
            n => RETRY_FIRST
                .saturating_mul(1 << (n - 2).min(6))
                .min(RETRY_MAX),
        };
        self.publisher = Publisher::Retry { at: now + pause };
    }

    /// A creation finished. One that is no longer awaited (the room was left or the
    /// connections reset meanwhile) is ignored here; the shell closes what it made.
    pub(super) fn publisher_created(
        &mut self,
        token: u64,
        result: Result<(u64, String), String>,
        now: Instant,
        out: &mut Outbox,
    ) {
        if !matches!(self.publisher, Publisher::Creating { token: t, .. } if t == token) {
            return;
        }
        match result {
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

    /// A connection's state changed; true when the publisher just connected. The
    /// subscriber's failures are the server's to repair: it offers a new connection.
    pub(super) fn link(
        &mut self,
        now: Instant,
        conn: u64,
        role: ConnRole,
        state: LinkState,
        out: &mut Outbox,
    ) -> bool {
        if role == ConnRole::Subscriber {
            // The server repairs a subscriber connection (it offers a new one); here it is
            // only watched, for onNetworkQuality.
            let newest = self.subscriber.is_none_or(|(c, _)| conn >= c);
            if newest {
                let was_lost = self.subscriber.is_some_and(|(_, lost)| lost);
                let lost = match state {
                    LinkState::Connected => false,
                    LinkState::Disconnected | LinkState::Failed => true,
                    LinkState::Connecting => was_lost,
                };
                self.subscriber = Some((conn, lost));
            }
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
                false
            }
            LinkState::Connecting => false,
        }
    }

    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        bind_ip: IpAddr,
        accepted: MediaState,
        out: &mut Outbox,
    ) {
        match self.publisher {
            Publisher::Retry { at } if now >= at => self.recreate(now, bind_ip, accepted, out),
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
        accepted: MediaState,
        out: &mut Outbox,
    ) {
        match self.publisher {
            Publisher::None | Publisher::Up { .. } => {}
            Publisher::Retry { .. } => self.recreate(now, bind_ip, accepted, out),
            _ => {
                out.effect(Effect::ClosePublisher);
                self.recreate(now, bind_ip, accepted, out);
            }
        }
    }

    /// Both connections are over (left the room, or the server lost them).
    pub(super) fn reset(&mut self, out: &mut Outbox) {
        if self.publisher != Publisher::None {
            out.effect(Effect::ClosePublisher);
        }
        out.effect(Effect::CloseSubscriber);
        // Tokens go on counting: one from before the reset must never match a new one.
        *self = Links {
            last_token: self.last_token,
            ..Links::default()
        };
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
