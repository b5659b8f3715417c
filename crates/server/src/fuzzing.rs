//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): what clients and operators
//! hand the server, driven with arbitrary bytes. Each must return, whatever the bytes.

use trtc_protocol::messages::parse_client_message;

/// A signalling frame: parsed as the server parses it; what parses must survive a round trip.
pub fn signalling(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = parse_client_message(text) {
        let again = serde_json::to_string(&msg).expect("client messages serialise");
        assert_eq!(
            parse_client_message(&again).ok(),
            Some(msg),
            "round trip of {text:?}"
        );
    }
}

/// A sequence of client actions against an in-process room, in virtual time.
pub fn room_sequence(data: &[u8]) {
    crate::room::fuzz::run(data);
}

/// A `--config` file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = toml::from_str::<crate::config::FileConfig>(text);
}
