#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trtc_rtc::fuzzing::sdp(data));
