//! The room's publishing rules and what members are told of each other's media: the one place
//! that decides what a member may publish (contract §3, reference §5), and what the others see
//! of it while its media connection is up or gone.

use super::Room;
use tracing::info;
use trtc_protocol::codes::*;
use trtc_protocol::limits::MAX_ANCHORS;
use trtc_protocol::{MediaState, ServerMessage, TrtcRole};
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
                let (state, publishes, visible) = (m.published(), m.media.any(), m.role);
                info!(room = %self.key, user = %user_id, up, "media connection");
                if publishes && self.visible(visible) {
                    self.broadcast_except(
                        &user_id,
                        ServerMessage::RemoteMediaState {
                            user_id: user_id.clone(),
                            state,
                        },
                    );
                }
            }
        }
    }

    /// Applies the publishing rules (contract §3, reference §5) and tells the others.
    pub(super) fn set_media(
        &mut self,
        user_id: &str,
        conn_id: u64,
        wanted: MediaState,
    ) -> (i32, String, MediaState) {
        if !self.is_current(user_id, conn_id) {
            return (
                ERR_REFUSED,
                "not in this room".into(),
                MediaState::default(),
            );
        }
        let Some(member) = self.members.get(user_id) else {
            return (
                ERR_REFUSED,
                "not in this room".into(),
                MediaState::default(),
            );
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
        let link_up = match self.members.get_mut(user_id) {
            Some(m) => {
                m.media = accepted;
                m.link_up
            }
            None => false,
        };
        self.media.set_allowed(user_id, accepted);
        if accepted != old && link_up {
            let visible = self
                .members
                .get(user_id)
                .is_some_and(|m| self.visible(m.role));
            if visible {
                self.broadcast_except(
                    user_id,
                    ServerMessage::RemoteMediaState {
                        user_id: user_id.into(),
                        state: accepted,
                    },
                );
            }
        }
        (verdict.0, verdict.1, accepted)
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
