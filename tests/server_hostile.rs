//! The room-server process under hostile and faulty clients (contract §1: deadlines, caps and
//! close codes): what a client sees, one test per way a server can be worn down.
#![allow(clippy::unwrap_used)] // helpers here are test code too

mod common;

use common::raw::{self, Logged, Ws};
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// Whether the server closed `s` within `within` (EOF or reset), without us closing it.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn idle_and_slowloris_sockets_are_closed_at_the_handshake_deadline() {
    let server = Logged::start(&["--handshake-timeout", "1"], &[]);
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let mut slow: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // One header byte every 200 ms: each byte arrives well within any per-read timeout.
    let header = b"GET /ws HTTP/1.1\r\nHost: x\r\n";
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(1500) && sent < header.len() {
        for s in &mut slow {
            let _ = s.write_all(&header[sent..=sent]);
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    for (i, s) in idle.iter_mut().chain(slow.iter_mut()).enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(3)),
            "socket {i} still open 4.5 s after connecting"
        );
    }
    // The server itself is fine.
    let mut ws = Ws::connect(&server.url);
    assert_eq!(ws.enter("after", 7), 0);
}

#[test]
fn an_unentered_socket_sending_heartbeats_is_closed_with_1008() {
    let server = Logged::start(&["--enter-timeout", "1"], &[]);
    let mut ws = Ws::connect(&server.url);
    let started = Instant::now();
    let close = loop {
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        ws.send(json!({"type": "heartbeat"}));
        match ws.recv_within(Duration::from_millis(300)) {
            raw::Got::Message(m) => {
                assert_eq!(m["type"], "heartbeatAck", "{m}");
                std::thread::sleep(Duration::from_millis(100));
            }
            raw::Got::Closed(code) => break code,
            raw::Got::Nothing => {}
        }
    };
    assert_eq!(close, Some(1008));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "heartbeats before entry do not extend the deadline, but it is the full second"
    );
    // Entering in time lifts the deadline.
    let mut member = Ws::connect(&server.url);
    assert_eq!(member.enter("member", 7), 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        member.request(json!({"type": "heartbeat"}))["type"],
        "heartbeatAck"
    );
}

#[test]
fn oversize_and_invalid_utf8_frames_are_closed_with_1009_and_1007() {
    let server = Logged::start(&[], &[]);
    let mut big = Ws::connect(&server.url);
    big.send_text("x".repeat(2 << 20));
    assert_eq!(big.closed(), Some(1009));
    let mut bad = Ws::connect(&server.url);
    bad.send_invalid_utf8(&[b'{', 0xff, 0xfe, b'}']);
    assert_eq!(bad.closed(), Some(1007));
}

#[test]
fn a_replaced_session_and_a_dropped_member_are_closed_with_their_own_codes() {
    let server = Logged::start(&["--drop-timeout", "1"], &[]);
    let mut first = Ws::connect(&server.url);
    assert_eq!(first.enter("dup", 7), 0);
    let mut second = Ws::connect(&server.url);
    assert_eq!(second.enter("dup", 7), 0);
    let exit = first.wait_for("exitRoom", Duration::from_secs(5));
    assert_eq!(exit["reason"], 1);
    assert_eq!(first.closed(), Some(4001), "replaced");
    // The second never heartbeats: dropped after the drop timeout.
    assert_eq!(second.closed(), Some(4000), "dropped");
}

#[test]
fn beyond_the_connection_cap_new_ones_are_refused_and_a_bot_enters_once_one_closes() {
    let server = Logged::start(&["--max-connections", "5"], &[]);
    let mut held: Vec<Ws> = (0..5).map(|_| Ws::connect(&server.url)).collect();
    let mut refused = TcpStream::connect(server.addr).unwrap();
    refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = refused.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");

    let mut bot = bot(&server.url, "late", 7, &["--duration", "30"]);
    std::thread::sleep(Duration::from_millis(800));
    held.pop();
    let entered = bot.until("onEnterRoom");
    assert!(entered["result"].as_i64().unwrap() > 0, "{entered}");
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_says_so_and_admits_after() {
    let server = Logged::start_with_nofile(64, &["--handshake-timeout", "3"]);
    let flood: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(server.addr).ok())
        .collect();
    assert!(flood.len() > 64, "the backlog takes what accept cannot");
    let said = server.wait_for_log("cannot accept connections", Duration::from_secs(5));
    assert!(said, "no back-off line; log: {}", server.log());
    drop(flood);
    let mut ws = Ws::connect_retrying(&server.url, Duration::from_secs(10));
    assert_eq!(ws.enter("after-emfile", 7), 0);
    let lines = server.log_matching("cannot accept connections");
    assert!(
        lines <= 3,
        "one back-off line per interval, not one per failed accept: {lines}"
    );
}

#[test]
fn a_mediastate_flood_is_limited_and_the_others_see_a_bounded_number_of_events() {
    let server = Logged::start(&[], &[]);
    let mut watcher = bot(&server.url, "watcher", 7, &["--duration", "60"]);
    assert!(watcher.until("onEnterRoom")["result"].as_i64().unwrap() > 0);
    let mut flooder = Ws::connect(&server.url);
    assert_eq!(flooder.enter("flooder", 7), 0);
    for i in 0..500 {
        let on = i % 2 == 0;
        flooder.send(json!({"type": "mediaState", "audio": on, "video": on, "sub": false}));
    }
    let mut limited = 0;
    let close = loop {
        match flooder.recv_within(Duration::from_secs(5)) {
            raw::Got::Message(m) if m["type"] == "error" && m["code"] == -3 => limited += 1,
            raw::Got::Message(_) => {}
            raw::Got::Closed(code) => break code,
            raw::Got::Nothing => panic!("neither closed nor answering; {limited} limited"),
        }
    };
    assert!(limited > 50, "the excess is answered with -3: {limited}");
    assert_eq!(close, Some(1008), "persistent abuse is closed");
    // The flood reached the watcher as a bounded number of events, not 1,000.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut available = 0;
    while Instant::now() < deadline {
        // Statistics arrive every 2 s, so this read never waits long.
        let e: serde_json::Value = serde_json::from_str(&watcher.line()).unwrap();
        if e["event"] == "onUserVideoAvailable" || e["event"] == "onUserAudioAvailable" {
            available += 1;
        }
    }
    assert!(
        (1..=60).contains(&available),
        "watcher saw {available} availability events"
    );
}

#[test]
fn after_a_garbage_subscribe_answer_a_later_publisher_still_reaches_that_member() {
    let server = Logged::start(&[], &[]);
    let mut member = Ws::connect(&server.url);
    assert_eq!(member.enter("member", 7), 0);
    let _first = bot(
        &server.url,
        "first",
        7,
        &["--camera", "synthetic", "--duration", "60"],
    );
    let offer = member.wait_for("subscribeOffer", Duration::from_secs(15));
    assert!(offer["sdp"].as_str().unwrap().contains("big:first"));
    let reply = member.request(json!({"type": "subscribeAnswer", "sdp": "garbage"}));
    assert_eq!(reply["code"], -2, "{reply}");
    // The member answers nothing more; a publisher who joins later is still offered to it.
    let _later = bot(
        &server.url,
        "later",
        7,
        &["--camera", "synthetic", "--duration", "60"],
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let offer = member.wait_for("subscribeOffer", deadline - Instant::now());
        let sdp = offer["sdp"].as_str().unwrap();
        if sdp.contains("big:later") {
            assert!(sdp.contains("big:first"), "the earlier publisher too");
            break;
        }
    }
}

#[test]
fn junk_datagrams_at_the_media_ports_leave_media_and_the_log_bounded() {
    let server = Logged::start(&["--rtc-udp-ports", "47100-47109"], &[("RUST_LOG", "warn")]);
    let mut publisher = bot(
        &server.url,
        "publisher",
        7,
        &["--camera", "synthetic", "--duration", "60"],
    );
    assert!(publisher.until("onEnterRoom")["result"].as_i64().unwrap() > 0);
    let mut viewer = bot(
        &server.url,
        "viewer",
        7,
        &["--duration", "60", "--subscribe"],
    );
    viewer.until("onFirstVideoFrame");
    let before = server.log_lines();
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..100_000u32 {
        let port = 47100 + (i % 10) as u16;
        let payload = i.to_be_bytes().repeat(1 + (i % 50) as usize);
        let _ = junk.send_to(&payload, ("127.0.0.1", port));
    }
    std::thread::sleep(Duration::from_secs(1));
    let written = server.log_lines() - before;
    assert!(
        written <= 200,
        "100,000 junk datagrams wrote {written} log lines:\n{}",
        server.log()
    );
    // Media still flows: the viewer's statistics keep counting decoded frames.
    let decoded = |v: &mut Proc| loop {
        let e = v.line();
        let e: serde_json::Value = serde_json::from_str(&e).unwrap();
        if e["event"] == "onStatistics" {
            if let Some(r) = e["remoteStatisticsArray"].as_array() {
                if let Some(s) = r.iter().find(|s| s["userId"] == "publisher") {
                    return s["decodedFrames"].as_u64().unwrap_or(0);
                }
            }
        }
    };
    let a = decoded(&mut viewer);
    let b = decoded(&mut viewer);
    assert!(b > a, "frames stopped after the junk: {a} then {b}");
}

#[test]
fn after_sigterm_every_room_closes_its_media_and_clients_see_the_shutdown_code() {
    let server = Logged::start(&[], &[]);
    let mut publishers: Vec<Proc> = [(1u32, "p1"), (2, "p2")]
        .iter()
        .map(|(room, user)| {
            bot(
                &server.url,
                user,
                *room,
                &[
                    "--camera",
                    "synthetic",
                    "--mic",
                    "synthetic",
                    "--duration",
                    "60",
                ],
            )
        })
        .collect();
    let mut viewer = bot(
        &server.url,
        "viewer",
        1,
        &["--duration", "60", "--subscribe"],
    );
    // Both first frames, in whichever order, so neither lands inside the loss's events.
    let mut firsts = std::collections::HashSet::new();
    while firsts.len() < 2 {
        let e = viewer.event();
        if let Some(name @ ("onFirstVideoFrame" | "onFirstAudioFrame")) = e["event"].as_str() {
            firsts.insert(name.to_owned());
        }
    }
    let mut raw = Ws::connect(&server.url);
    assert_eq!(raw.enter("raw", 2), 0);
    server.signal("TERM");
    assert_eq!(raw.closed(), Some(1001));
    // The events of a loss, in their usual order, then what kind of loss it was.
    assert_eq!(viewer.event()["event"], "onConnectionLost");
    assert_eq!(viewer.event()["event"], "onTryToReconnect");
    let warning = viewer.event();
    assert_eq!(warning["warningCode"], 5101, "{warning}");
    let mut server = server;
    assert_eq!(server.wait(), 0);
    let log = server.log();
    assert_eq!(
        log.matches("room closed for shutdown").count(),
        2,
        "both rooms closed their media:\n{log}"
    );
    assert!(
        !log.contains("did not close within the grace period"),
        "{log}"
    );
    for p in &mut publishers {
        p.until("onConnectionLost");
    }
}
