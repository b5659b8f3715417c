//! Finds rooms by key and sessions by resume token. The locks here are held only for a map
//! look-up or insert, never across an await: room state itself lives in each room's actor.

use crate::room::{self, RoomCommand};
use rand::RngCore;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};
use trtc_protocol::{RoomId, TrtcAppScene};

/// Rooms are per application: the same room ID in two apps is two rooms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    /// The application.
    pub app: u32,
    /// The room within it (numeric and string IDs never collide).
    pub room: RoomId,
}

impl fmt::Display for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.room)
    }
}

/// Rooms and resumable sessions.
#[derive(Debug)]
pub struct Registry {
    rooms: Mutex<HashMap<RoomKey, mpsc::Sender<RoomCommand>>>,
    sessions: Mutex<HashMap<String, (RoomKey, String)>>,
    /// Every room's actor watches it and closes its media when it fires.
    shutdown: watch::Receiver<bool>,
    /// Held (through the registry) by every room: shutdown waits until all are gone.
    _alive: mpsc::Sender<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the maps inconsistent
    // (every critical section is a single insert or remove), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// An empty registry whose rooms stop on `shutdown`.
    pub fn new(shutdown: watch::Receiver<bool>, alive: mpsc::Sender<()>) -> Arc<Registry> {
        Arc::new(Registry {
            rooms: Mutex::default(),
            sessions: Mutex::default(),
            shutdown,
            _alive: alive,
        })
    }

    /// The room's actor, started with `scene` if the room does not exist yet.
    pub fn room(
        self: &Arc<Self>,
        key: &RoomKey,
        scene: TrtcAppScene,
        times: room::RoomTimes,
        media: &crate::MediaConfig,
    ) -> mpsc::Sender<RoomCommand> {
        let mut rooms = lock(&self.rooms);
        if let Some(tx) = rooms.get(key).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let tx = room::spawn(
            key.clone(),
            scene,
            Arc::clone(self),
            times,
            media.clone(),
            self.shutdown.clone(),
        );
        rooms.insert(key.clone(), tx.clone());
        tx
    }

    /// The room's actor if the room exists; never creates one.
    pub fn existing_room(&self, key: &RoomKey) -> Option<mpsc::Sender<RoomCommand>> {
        lock(&self.rooms)
            .get(key)
            .filter(|tx| !tx.is_closed())
            .cloned()
    }

    /// Called by a room's actor as it dissolves. While an actor runs, the entry under its key
    /// is its own (a successor is only created once the entry is gone or closed).
    pub fn remove_room(&self, key: &RoomKey) {
        let mut rooms = lock(&self.rooms);
        rooms.remove(key);
    }

    /// A fresh unguessable resume token for a member.
    pub fn new_token(&self, key: &RoomKey, user_id: &str) -> String {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        lock(&self.sessions).insert(token.clone(), (key.clone(), user_id.to_owned()));
        token
    }

    /// The session a token resumes.
    pub fn session(&self, token: &str) -> Option<(RoomKey, String)> {
        lock(&self.sessions).get(token).cloned()
    }

    /// The session ended; its token no longer resumes anything.
    pub fn forget_token(&self, token: &str) {
        lock(&self.sessions).remove(token);
    }

    /// Rooms and sessions, for `/healthz`.
    pub fn counts(&self) -> (usize, usize) {
        (lock(&self.rooms).len(), lock(&self.sessions).len())
    }
}
