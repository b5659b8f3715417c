//! Membership: entering (and replacing an earlier session), resuming, switching role,
//! leaving and being dropped, with the room limits of TRTC's scenes.

use super::{Admitted, Member, Outbox, Room, EXIT_REMOVED, LEAVE_TIMEOUT, LEAVE_TO_AUDIENCE};
use crate::auth::Refusal;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::info;
use trtc_protocol::codes::*;
use trtc_protocol::limits::{MAX_ANCHORS, MAX_AUDIENCE, MAX_CALL_USERS};
use trtc_protocol::{close, MediaState, ServerMessage, TrtcAppScene, TrtcRole};

impl Room {
    fn count(&self, role: TrtcRole) -> usize {
        self.members.values().filter(|m| m.role == role).count()
    }

    /// Whether one more member of `role` fits (a replaced session does not count twice).
    fn has_room_for(&self, user_id: &str, role: TrtcRole) -> bool {
        let existing = self.members.get(user_id).map(|m| m.role);
        let others = |r: TrtcRole| self.count(r) - usize::from(existing == Some(r));
        if !self.scene.is_live() {
            return self.members.len() - usize::from(existing.is_some()) < MAX_CALL_USERS;
        }
        match role {
            TrtcRole::Anchor => others(TrtcRole::Anchor) < MAX_ANCHORS,
            TrtcRole::Audience => others(TrtcRole::Audience) < MAX_AUDIENCE,
        }
    }

    pub(super) fn enter(
        &mut self,
        user_id: String,
        role: TrtcRole,
        scene: TrtcAppScene,
        repeat: bool,
        outbox: Outbox,
        now: Instant,
    ) -> Result<Admitted, Refusal> {
        // Call scenes have no roles: everyone is effectively an anchor.
        let role = if scene.is_live() {
            role
        } else {
            TrtcRole::Anchor
        };
        if !self.has_room_for(&user_id, role) {
            return Err((
                ERR_SERVER_CENTER_ROOM_FULL,
                format!("room {} is full", self.key.room),
            ));
        }
        if repeat {
            return Err((
                ERR_TRTC_ENTER_ROOM_REFUSED,
                "enterRoom repeated on the same connection".into(),
            ));
        }
        if scene != self.scene {
            return Err((
                ERR_TRTC_ENTER_ROOM_FAILED,
                format!(
                    "room {} is a {} room; entering it as {} is refused (all users of a room use the first user's scene)",
                    self.key.room,
                    self.scene.name(),
                    scene.name()
                ),
            ));
        }
        let token = self.registry.new_token(&self.key, &user_id);
        let member = Member::new(role, outbox, token.clone(), now);
        let was_visible = match self.members.insert(user_id.clone(), member) {
            Some(old) => {
                // The same user entered again: the earlier session ends, others see nothing
                // unless the user's visibility changed with the new role.
                info!(room = %self.key, user = %user_id, "earlier session replaced");
                self.registry.forget_token(&old.token);
                self.media.remove_user(&user_id);
                if old.published().any() {
                    self.broadcast_except(
                        &user_id,
                        ServerMessage::RemoteMediaState {
                            user_id: user_id.clone(),
                            state: MediaState::default(),
                        },
                    );
                }
                if let Some(out) = old.outbox {
                    // The connection closes with REPLACED after passing this on (so the code
                    // is set before the message can be read).
                    let tx = out.tx.clone();
                    out.close(close::REPLACED);
                    let _ = tx.try_send(ServerMessage::ExitRoom {
                        reason: EXIT_REMOVED,
                    });
                }
                Some(self.visible(old.role))
            }
            None => None,
        };
        self.empty_since = None;
        let now_visible = self.visible(role);
        match (was_visible, now_visible) {
            (None | Some(false), true) => self.broadcast_except(
                &user_id,
                ServerMessage::RemoteUserEnterRoom {
                    user_id: user_id.clone(),
                },
            ),
            (Some(true), false) => self.broadcast_except(
                &user_id,
                ServerMessage::RemoteUserLeaveRoom {
                    user_id: user_id.clone(),
                    reason: LEAVE_TO_AUDIENCE,
                },
            ),
            _ => {}
        }
        info!(room = %self.key, user = %user_id, role = role.name(), members = self.members.len(), "entered");
        self.send_media_states_to(&user_id);
        Ok(Admitted {
            token,
            members: self.visible_members_except(&user_id),
            media: Arc::clone(&self.media),
        })
    }

    pub(super) fn resume(
        &mut self,
        user_id: &str,
        token: &str,
        outbox: Outbox,
        now: Instant,
    ) -> Result<Admitted, Refusal> {
        let members = self.visible_members_except(user_id);
        let m = self
            .members
            .get_mut(user_id)
            .filter(|m| m.token == token)
            .ok_or((ERR_TRTC_ENTER_ROOM_FAILED, "session not found".to_string()))?;
        // A half-open earlier connection loses its outbox, which closes it.
        m.detach(close::RESUMED_ELSEWHERE);
        m.last_conn = outbox.conn_id;
        m.outbox = Some(outbox);
        m.last_seen = now;
        info!(room = %self.key, user = %user_id, "session resumed");
        self.send_media_states_to(user_id);
        Ok(Admitted {
            token: token.into(),
            members,
            media: Arc::clone(&self.media),
        })
    }

    pub(super) fn switch_role(&mut self, user_id: &str, conn_id: u64, role: TrtcRole) -> Refusal {
        if !self.is_current(user_id, conn_id) {
            return (ERR_REFUSED, "not in this room".into());
        }
        if !self.scene.is_live() {
            return (
                ERR_INVALID_PARAMETER,
                "switchRole is only for live scenes".into(),
            );
        }
        let old = self.members.get(user_id).map_or(role, |m| m.role);
        if old == role {
            return (ERR_NULL, "ok".into());
        }
        if !self.has_room_for(user_id, role) {
            return (
                ERR_SERVER_CENTER_ROOM_FULL,
                format!("room {} already has {MAX_ANCHORS} anchors", self.key.room),
            );
        }
        let mut unpublished = false;
        if let Some(m) = self.members.get_mut(user_id) {
            m.role = role;
            if role == TrtcRole::Audience && m.media.any() {
                // An anchor turning audience stops publishing at once.
                m.media = MediaState::default();
                m.unbacked_since = None;
                unpublished = true;
            }
        }
        if unpublished {
            self.media.set_allowed(user_id, MediaState::default());
            self.broadcast_except(
                user_id,
                ServerMessage::RemoteMediaState {
                    user_id: user_id.into(),
                    state: MediaState::default(),
                },
            );
        }
        let event = match role {
            TrtcRole::Anchor => ServerMessage::RemoteUserEnterRoom {
                user_id: user_id.into(),
            },
            TrtcRole::Audience => ServerMessage::RemoteUserLeaveRoom {
                user_id: user_id.into(),
                reason: LEAVE_TO_AUDIENCE,
            },
        };
        self.broadcast_except(user_id, event);
        (ERR_NULL, "ok".into())
    }

    pub(super) fn remove(&mut self, user_id: &str, reason: u8, now: Instant) -> Option<Member> {
        let m = self.members.remove(user_id)?;
        self.registry.forget_token(&m.token);
        self.media.remove_user(user_id);
        if self.visible(m.role) {
            self.broadcast_except(
                user_id,
                ServerMessage::RemoteUserLeaveRoom {
                    user_id: user_id.into(),
                    reason,
                },
            );
        }
        info!(room = %self.key, user = %user_id, reason, members = self.members.len(), "left");
        if self.members.is_empty() {
            self.empty_since = Some(now);
            // Call rooms dissolve at once; a live room whose last leaver was audience lingers.
            if self.scene.is_live() && m.role == TrtcRole::Audience {
                self.linger = self.times.live_linger;
            } else {
                self.dissolve();
            }
        }
        Some(m)
    }

    pub(super) fn drop_silent(&mut self, now: Instant) {
        let silent: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now.duration_since(m.last_seen) >= self.times.drop_timeout)
            .map(|(u, _)| u.clone())
            .collect();
        for user in silent {
            info!(room = %self.key, user = %user, "dropped after the drop timeout");
            // A still-open (half-open) connection closes with DROPPED.
            if let Some(mut m) = self.remove(&user, LEAVE_TIMEOUT, now) {
                m.detach(close::DROPPED);
            }
        }
    }
}
