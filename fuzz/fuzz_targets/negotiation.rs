#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = trtc_rtc::fuzzing::negotiation(data);
});
