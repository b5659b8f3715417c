//! The room's publishing rules and what members are told of each other's media: the one place
//! that decides what a member may publish (contract §3, reference §5), what the others see of
//! it while its media connection is up or gone, and when a claim nothing backs is withdrawn.

use super::Room;
use tokio::time::Instant;
use tracing::info;
use trtc_protocol::codes::*;
use trtc_protocol::limits::MAX_ANCHORS;
use trtc_protocol::{MediaState, ServerMessage, StreamKind, TrtcRole};
use trtc_rtc::sfu::MediaNotice;

impl Room {
    pub(super) fn media_notice(&mut self, notice: MediaNotice) {
        match notice {
            MediaNotice::PublisherLink { user_id, up } => {
                let Some(m) = self.members.get_mut(&user_id) else {
                    return;
                };
                if m.link_up == up {
                    return;
                }
                m.link_up = up;
                info!(room = %self.key, user = %user_id, up, "media connection");
                if m.media.any() {
                    self.tell_others(&user_id);
                }
            }
            MediaNotice::Stream {
                user_id,
                kind,
                present,
            } => {
                let Some(m) = self.members.get_mut(&user_id) else {
                    return;
                };
                kind.set_in_state(&mut m.backed, present);
                if m.unbacked_since.is_some() && unbacked(m.media, m.backed).is_empty() {
                    m.unbacked_since = None;
                }
            }
        }
    }

    /// Tells everyone else what `user_id` is seen publishing now (if they can see it at all).
    fn tell_others(&mut self, user_id: &str) {
        let Some(m) = self.members.get(user_id) else {
            return;
        };
        if !self.visible(m.role) {
            return;
        }
        let state = m.published();
        self.broadcast_except(
            user_id,
            ServerMessage::RemoteMediaState {
                user_id: user_id.into(),
                state,
            },
        );
    }

    /// Applies the publishing rules (contract §3, reference §5) and tells the others.
    pub(super) fn set_media(
        &mut self,
        user_id: &str,
        conn_id: u64,
        wanted: MediaState,
        now: Instant,
    ) -> (i32, String, MediaState) {
        let not_in_room = || {
            (
                ERR_REFUSED,
                "not in this room".to_string(),
                MediaState::default(),
            )
        };
        if !self.is_current(user_id, conn_id) {
            return not_in_room();
        }
        let Some(member) = self.members.get(user_id) else {
            return not_in_room();
        };
        let old = member.media;
        let mut accepted = wanted;
        let mut verdict = (ERR_NULL, "ok".to_string());
        if self.scene.is_live() && member.role == TrtcRole::Audience && wanted.any() {
            accepted = MediaState::default();
            verdict = (
                WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE,
                "audience cannot publish; switch to anchor first".into(),
            );
        } else if wanted.sub
            && !old.sub
            && self
                .members
                .iter()
                .any(|(u, m)| u.as_str() != user_id && m.media.sub)
        {
            accepted.sub = false;
            verdict = (
                ERR_SCREEN_SHARE_OCCUPIED_BY_OTHER,
                "another user is already sharing a screen in this room".into(),
            );
        }
        let publishers = self
            .members
            .iter()
            .filter(|(u, m)| u.as_str() != user_id && m.media.any())
            .count();
        if accepted.any() && !old.any() && publishers >= MAX_ANCHORS {
            accepted = MediaState::default();
            verdict = (
                ERR_SERVER_CENTER_ROOM_FULL,
                format!(
                    "room {} already has {MAX_ANCHORS} publishers",
                    self.key.room
                ),
            );
        }
        if let Some(m) = self.members.get_mut(user_id) {
            m.media = accepted;
            // Only a kind claimed now starts the clock: one whose stream was there and went
            // (its connection is down) is the link's business, however often it is restated.
            let missing = unbacked(accepted, m.backed);
            if missing.is_empty() {
                m.unbacked_since = None;
            } else if missing.iter().any(|k| !k.in_state(&old)) {
                m.unbacked_since = Some(now);
            }
        }
        self.media.set_allowed(user_id, accepted);
        if accepted != old && self.members.get(user_id).is_some_and(|m| m.link_up) {
            self.tell_others(user_id);
        }
        (verdict.0, verdict.1, accepted)
    }

    /// Claims that no stream backed within the grace are withdrawn: the member is told (as a
    /// mediaStateResult with −3 and what it still holds), the others see the stream go.
    pub(super) fn withdraw_unbacked(&mut self, now: Instant) {
        let grace = self.times.claim_grace;
        let due: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.unbacked_since
                    .is_some_and(|t| now.duration_since(t) >= grace)
            })
            .map(|(u, _)| u.clone())
            .collect();
        for user_id in due {
            let Some(m) = self.members.get_mut(&user_id) else {
                continue;
            };
            let missing = unbacked(m.media, m.backed);
            m.unbacked_since = None;
            if missing.is_empty() {
                continue;
            }
            for kind in &missing {
                kind.set_in_state(&mut m.media, false);
            }
            let kept = m.media;
            let names: Vec<&str> = missing.iter().map(|k| k.describe()).collect();
            info!(room = %self.key, user = %user_id, withdrawn = ?names, "media claim withdrawn: no stream arrived");
            if let Some(out) = &m.outbox {
                let _ = out.tx.try_send(ServerMessage::MediaStateResult {
                    code: ERR_REFUSED,
                    message: format!(
                        "no {} stream arrived within {} s of claiming it; claim withdrawn",
                        names.join(" or "),
                        grace.as_secs_f32()
                    ),
                    accepted: kept,
                });
            }
            self.media.set_allowed(&user_id, kept);
            if self.members.get(&user_id).is_some_and(|m| m.link_up) {
                self.tell_others(&user_id);
            }
        }
    }

    /// A member who (re)joined learns what everyone else publishes.
    pub(super) fn send_media_states_to(&mut self, user_id: &str) {
        let states: Vec<ServerMessage> = self
            .members
            .iter()
            .filter(|(u, m)| u.as_str() != user_id && m.published().any() && self.visible(m.role))
            .map(|(u, m)| ServerMessage::RemoteMediaState {
                user_id: u.clone(),
                state: m.published(),
            })
            .collect();
        if let Some(out) = self.members.get(user_id).and_then(|m| m.outbox.clone()) {
            for msg in states {
                let _ = out.tx.try_send(msg);
            }
        }
    }
}

/// The kinds claimed in `claimed` that no stream in `backed` carries.
fn unbacked(claimed: MediaState, backed: MediaState) -> Vec<StreamKind> {
    StreamKind::ALL
        .into_iter()
        .filter(|k| k.in_state(&claimed) && !k.in_state(&backed))
        .collect()
}
