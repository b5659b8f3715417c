//! What an H.264 RTP payload (RFC 6184) or access unit holds, read without decoding: the
//! pacer and the reassembler both need to know where keyframes are.

/// Whether an H.264 RTP payload (RFC 6184) starts or carries part of a keyframe: an IDR slice
/// or a sequence parameter set, alone, in a STAP-A, or fragmented in FU-A.
pub(super) fn starts_keyframe(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let key = |nal_header: u8| matches!(nal_header & 0x1f, IDR | SPS);
    match payload.first().map(|b| b & 0x1f) {
        Some(STAP_A) => {
            let mut rest = payload.get(1..).unwrap_or_default();
            while let [hi, lo, nal, ..] = *rest {
                if key(nal) {
                    return true;
                }
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                rest = rest.get(2 + len..).unwrap_or_default();
            }
            false
        }
        Some(FU_A) => payload.get(1).is_some_and(|&fu| key(fu)),
        Some(_) => payload.first().is_some_and(|&nal| key(nal)),
        None => false,
    }
}

/// Whether an H.264 RTP payload is the first packet of a keyframe as our senders packetise
/// them: the sequence parameter set leads every keyframe, alone or first in a STAP-A.
pub(super) fn begins_keyframe(payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    match payload.first().map(|b| b & 0x1f) {
        Some(STAP_A) => payload.get(3).is_some_and(|&nal| nal & 0x1f == SPS),
        Some(SPS) => true,
        _ => false,
    }
}

/// Whether an Annex B access unit holds an IDR slice.
pub(super) fn has_idr(au: &[u8]) -> bool {
    au.windows(4)
        .any(|w| w[0] == 0 && w[1] == 0 && w[2] == 1 && (w[3] & 0x1f) == 5)
}

/// Whether every aggregation unit of a STAP-A payload has its two length bytes (other NAL
/// types are not aggregates and pass).
pub(super) fn stap_a_well_formed(payload: &[u8]) -> bool {
    const STAP_A: u8 = 24;
    if payload.first().map(|b| b & 0x1f) != Some(STAP_A) {
        return true;
    }
    let mut offset = 1;
    while offset < payload.len() {
        let Some(size) = payload.get(offset..offset + 2) else {
            return false;
        };
        offset += 2 + (usize::from(size[0]) << 8 | usize::from(size[1]));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_told_in_every_packetisation() {
        assert!(starts_keyframe(&[0x65, 1, 2]), "an IDR slice");
        assert!(!starts_keyframe(&[0x41, 1, 2]), "a P slice");
        // STAP-A: SPS (2 bytes), PPS (2 bytes).
        assert!(starts_keyframe(&[0x78, 0, 2, 0x67, 9, 0, 2, 0x68, 9]));
        assert!(
            !starts_keyframe(&[0x78, 0, 2, 0x06, 9, 0, 2, 0x41, 9]),
            "SEI and P"
        );
        assert!(starts_keyframe(&[0x7c, 0x05, 1]), "an IDR fragment");
        assert!(!starts_keyframe(&[0x7c, 0x01, 1]), "a P fragment");
        assert!(
            !starts_keyframe(&[0x78, 0, 200, 0x41]),
            "a truncated STAP-A"
        );
        assert!(!starts_keyframe(&[]));
    }
}
