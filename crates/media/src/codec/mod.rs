//! Codecs: synchronous objects, meant to be driven from dedicated media threads, never from an
//! async runtime's workers (a 10 ms encode there stalls signalling).

pub mod h264;
pub mod opus;

/// A codec failed; the SDK maps encode failures to −1303 / −1304.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec}: {message}")]
pub struct CodecError {
    /// Which codec.
    pub codec: &'static str,
    /// What the library said.
    pub message: String,
}

impl CodecError {
    pub(crate) fn new(codec: &'static str, e: impl std::fmt::Display) -> Self {
        CodecError {
            codec,
            message: e.to_string(),
        }
    }
}
