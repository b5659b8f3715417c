#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trtc_server::fuzzing::signalling(data));
