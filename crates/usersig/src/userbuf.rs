//! The privateMapKey's binary userbuf (reference §6.4), big-endian:
//! `ver u8 · accountLen u16 · account · sdkappid u32 · roomId u32 · expireAt u32 · privilege u32 ·
//! accountType u32 · [roomStrLen u16 · roomStr]` — ver 0 for numeric rooms, 1 for string rooms.

/// Privilege bit: enter the room.
pub const PRIVILEGE_ENTER_ROOM: u32 = 2;
/// Every privilege (create, enter, send/receive audio, video and sub-stream).
pub const PRIVILEGE_ALL: u32 = 255;

/// The room a privateMapKey is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PmkRoom {
    /// A numeric room.
    Num(u32),
    /// A string room.
    Str(String),
}

/// A decoded privateMapKey grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateMapKey {
    /// The user it was issued to.
    pub account: String,
    /// The application.
    pub sdk_app_id: u32,
    /// The room it grants.
    pub room: PmkRoom,
    /// Absolute expiry, Unix seconds.
    pub expire_at: u32,
    /// Privilege bits.
    pub privilege: u32,
}

impl PrivateMapKey {
    /// The binary userbuf.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32 + self.account.len());
        let (ver, room_num) = match &self.room {
            PmkRoom::Num(n) => (0u8, *n),
            PmkRoom::Str(_) => (1u8, 0),
        };
        b.push(ver);
        b.extend_from_slice(&(self.account.len() as u16).to_be_bytes());
        b.extend_from_slice(self.account.as_bytes());
        b.extend_from_slice(&self.sdk_app_id.to_be_bytes());
        b.extend_from_slice(&room_num.to_be_bytes());
        b.extend_from_slice(&self.expire_at.to_be_bytes());
        b.extend_from_slice(&self.privilege.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        if let PmkRoom::Str(s) = &self.room {
            b.extend_from_slice(&(s.len() as u16).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        b
    }

    /// Parses a userbuf; `None` when it is truncated or not of this layout.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut r = Reader(b);
        let ver = r.u8()?;
        let len = r.u16()? as usize;
        let account = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let sdk_app_id = r.u32()?;
        let room_num = r.u32()?;
        let expire_at = r.u32()?;
        let privilege = r.u32()?;
        let _account_type = r.u32()?;
        let room = match ver {
            0 => PmkRoom::Num(room_num),
            1 => {
                let n = r.u16()? as usize;
                PmkRoom::Str(String::from_utf8(r.take(n)?.to_vec()).ok()?)
            }
            _ => return None,
        };
        Some(PrivateMapKey {
            account,
            sdk_app_id,
            room,
            expire_at,
            privilege,
        })
    }

    /// Whether the grant covers `room` with all of `bits`.
    pub fn allows(&self, room: &PmkRoom, bits: u32) -> bool {
        self.room == *room && self.privilege & bits == bits
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}
