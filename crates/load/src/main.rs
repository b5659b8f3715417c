//! `room-load`: many participants in one process against one room server on this machine, for
//! capacity figures (docs/benchmarks.md). Publishers replay a clip encoded once; subscribers
//! decrypt and count but never decode, so the server is what runs out first.
//!
//! stdout: one JSON report at the end; stderr: progress and a summary. Exit 0 when the run
//! completed (whatever it measured), 1 on bad arguments or when the run could not be made.

mod clip;
mod janus;
mod janus_participant;
mod participant;
mod report;
mod server_probe;
mod timeline;

use anyhow::Context;
use clap::Parser;
use participant::{Phase, Plan, Probe};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use trtc_protocol::rtp::StreamKind;
use trtc_protocol::{TrtcAppScene, TrtcRole};

/// At most this many participants in one run: each is a few tasks and two UDP sockets.
const MAX_PARTICIPANTS: usize = 1000;
const MAX_SECONDS: f64 = 3600.0;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Many cheap participants against one room server on this machine"
)]
struct Cli {
    /// Room server URL; loopback only (ws://127.0.0.1:PORT).
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    server: String,
    /// The server is Janus VideoRoom (its WebSocket API, string IDs): the same participants,
    /// for the comparison. Scene and roles have no meaning there.
    #[arg(long)]
    janus: bool,
    #[arg(long)]
    sdkappid: u32,
    /// The app's secret key: every participant signs its own userSig (test signing).
    #[arg(long)]
    secret: String,
    /// Rooms, each with the same publishers and subscribers.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Publishers per room (they also receive each other).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Receive-only participants per room.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// The first room's id; the others follow it.
    #[arg(long, default_value_t = 9000)]
    roomid: u32,
    #[arg(long, default_value = "videocall", value_parser = parse_scene)]
    scene: TrtcAppScene,
    /// The subscribers' role; default: audience in live scenes, anchor otherwise.
    #[arg(long = "subscriber-role", value_parser = parse_role)]
    subscriber_role: Option<TrtcRole>,
    /// Publishers' video as WIDTHxHEIGHT, or "none" for an audio room.
    #[arg(long, default_value = "1280x720")]
    video: String,
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    #[arg(long = "video-kbps", default_value_t = 1500, value_parser = clap::value_parser!(u32).range(30..=20000))]
    video_kbps: u32,
    /// Publish no audio.
    #[arg(long = "no-audio")]
    no_audio: bool,
    /// Publishers per room whose microphone carries the tone; the rest are silent and send
    /// what Opus DTX does (one packet per 400 ms). Default: all of them talk.
    #[arg(long)]
    talkers: Option<usize>,
    /// Joins per second; 0: everyone at once.
    #[arg(long, default_value_t = 0.0)]
    ramp: f64,
    /// Seconds measured once every stream arrives.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to wait for every stream to arrive before measuring anyway.
    #[arg(long, default_value_t = 20.0)]
    warmup: f64,
    /// Our server's /metrics (http://127.0.0.1:PORT/metrics), read before and after.
    #[arg(long = "metrics-url")]
    metrics_url: Option<String>,
    /// The server's process (ours or Janus), for its CPU time and memory.
    #[arg(long = "server-pid")]
    server_pid: Option<u32>,
}

fn parse_scene(s: &str) -> Result<TrtcAppScene, String> {
    TrtcAppScene::from_name(s)
        .ok_or_else(|| format!("{s:?}: one of videocall, live, audiocall, voicechatroom"))
}

fn parse_role(s: &str) -> Result<TrtcRole, String> {
    match s {
        "anchor" => Ok(TrtcRole::Anchor),
        "audience" => Ok(TrtcRole::Audience),
        _ => Err(format!("{s:?}: anchor or audience")),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // Janus's DTLS hello carries extensions the library names and ignores.
                "warn,rtc_dtls::handshake=error".into()
            }),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("room-load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(load(cli)) {
        Ok(report) => {
            eprint!("{}", report::summary(&report));
            let mut out = std::io::stdout().lock();
            let written = serde_json::to_writer(&mut out, &report)
                .map_err(anyhow::Error::from)
                .and_then(|()| Ok(writeln!(out)?));
            match written {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("room-load: writing the report: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("room-load: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A participant of the run and where it sits.
struct Seat {
    room: u32,
    user: String,
    publishes: bool,
    probe: Arc<Probe>,
}

async fn load(cli: Cli) -> anyhow::Result<report::Report> {
    let server_ip = loopback_host(&cli.server)?;
    let total = cli.rooms * (cli.publishers + cli.subscribers);
    anyhow::ensure!(
        total > 0,
        "nobody to run: give --publishers or --subscribers"
    );
    anyhow::ensure!(
        total <= MAX_PARTICIPANTS,
        "{total} participants: at most {MAX_PARTICIPANTS}"
    );
    anyhow::ensure!(
        cli.duration > 0.0 && cli.duration <= MAX_SECONDS && cli.warmup <= MAX_SECONDS,
        "--duration and --warmup: at most {MAX_SECONDS} s"
    );
    let video = parse_video(&cli)?;
    let audio = !cli.no_audio;
    let clip = tokio::task::spawn_blocking(move || clip::Clip::encode(video, audio))
        .await
        .context("encoding the clip")??;
    let clip = Arc::new(clip);
    let live = matches!(cli.scene, TrtcAppScene::Live | TrtcAppScene::VoiceChatRoom);
    let subscriber_role = cli.subscriber_role.unwrap_or(if live {
        TrtcRole::Audience
    } else {
        TrtcRole::Anchor
    });
    let bind_ip = trtc_rtc::client::local_ip_towards(server_ip);
    let metrics_before = match &cli.metrics_url {
        Some(url) => Some(server_probe::scrape(url).await?),
        None => None,
    };
    if cli.janus {
        let rooms: Vec<u32> = (0..cli.rooms).map(|r| cli.roomid + r as u32).collect();
        janus::create_rooms(&cli.server, &rooms, cli.publishers).await?;
    }
    let (phase_tx, phase) = watch::channel(Phase::Running);
    let mut seats = vec![];
    let mut tasks = vec![];
    let gap = if cli.ramp > 0.0 {
        Duration::from_secs_f64(1.0 / cli.ramp)
    } else {
        Duration::ZERO
    };
    let started = Instant::now();
    for r in 0..cli.rooms {
        let room = cli.roomid + r as u32;
        for i in 0..cli.publishers + cli.subscribers {
            let publishes = i < cli.publishers;
            let user = if publishes {
                format!("p{r}-{i}")
            } else {
                format!("s{r}-{}", i - cli.publishers)
            };
            let probe = Arc::new(Probe::default());
            let plan = Plan {
                url: cli.server.clone(),
                app: cli.sdkappid,
                secret: cli.secret.clone(),
                room,
                user: user.clone(),
                role: if publishes {
                    TrtcRole::Anchor
                } else {
                    subscriber_role
                },
                scene: cli.scene,
                publish: publishes.then(|| Arc::clone(&clip)),
                talking: cli.talkers.is_none_or(|t| i < t),
                bind_ip,
            };
            tasks.push(if cli.janus {
                tokio::spawn(janus_participant::run(
                    plan,
                    Arc::clone(&probe),
                    phase.clone(),
                ))
            } else {
                tokio::spawn(participant::run(plan, Arc::clone(&probe), phase.clone()))
            });
            seats.push(Seat {
                room,
                user,
                publishes,
                probe,
            });
            if !gap.is_zero() {
                tokio::time::sleep_until((started + gap * seats.len() as u32).into()).await;
            }
        }
    }
    let expected = expected_streams(&seats, video.is_some(), audio);
    let joins = wait_for_joins(&seats).await;
    eprintln!(
        "room-load: {}/{} entered; waiting for every stream",
        joins.entered, joins.attempted
    );
    wait_for_streams(&seats, &expected, Duration::from_secs_f64(cli.warmup)).await;
    let sent0 = sent(&seats);
    let (start, cpu0, metrics0) = (
        snapshots(&seats),
        process_of(cli.server_pid).await,
        scrape_opt(&cli.metrics_url).await?,
    );
    let window_started = Instant::now();
    let timeline = timeline::record(
        Duration::from_secs_f64(cli.duration),
        || counted(&seats),
        || process_of(cli.server_pid),
    )
    .await;
    let end = snapshots(&seats);
    let sent1 = sent(&seats);
    let window_s = window_started.elapsed().as_secs_f64();
    let (cpu1, metrics1) = (
        process_of(cli.server_pid).await,
        scrape_opt(&cli.metrics_url).await?,
    );
    // Quiet: let everything in flight arrive, so the run's counts on both sides can be compared.
    let _ = phase_tx.send(Phase::Quiet);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let last = snapshots(&seats);
    let metrics_last = scrape_opt(&cli.metrics_url).await?;
    let failures: Vec<String> = seats
        .iter()
        .filter_map(|s| Some(format!("{}: {}", s.user, s.probe.failure.lock().clone()?)))
        .take(10)
        .collect();
    let _ = phase_tx.send(Phase::Leave);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let receivers: Vec<report::Receiver> = seats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            report::receiver(
                &s.user,
                s.room,
                &expected[i],
                &start[i],
                &end[i],
                &last[i],
                window_s,
            )
        })
        .collect();
    let senders = seats
        .iter()
        .zip(sent0.iter().zip(&sent1))
        .filter_map(|(s, (a, b))| Some(report::sender(&s.user, a.as_ref()?, b.as_ref()?, window_s)))
        .collect();
    let totals = report::totals(&receivers);
    let sample = |m: &Option<std::collections::HashMap<String, f64>>, name: &str| {
        m.as_ref().and_then(|m| m.get(name).copied())
    };
    let delta = |name: &str, a: &Option<_>, b: &Option<_>| -> Option<u64> {
        Some((sample(b, name)? - sample(a, name)?) as u64)
    };
    let server = (cli.server_pid.is_some() || cli.metrics_url.is_some()).then(|| {
        let cpu_s = match (cpu0, cpu1) {
            (Some((a, _)), Some((b, _))) => Some(b - a),
            _ => None,
        };
        let window_forwarded = delta("trtc_sfu_forwarded_packets_total", &metrics0, &metrics1);
        let packets = window_forwarded.unwrap_or(totals.window_packets);
        report::Server {
            cpu_s,
            cpu_pct_of_core: cpu_s.map(|c| 100.0 * c / window_s),
            cpu_us_per_packet: cpu_s
                .filter(|_| packets > 0)
                .map(|c| c * 1e6 / packets as f64),
            rss_bytes: cpu1.map(|(_, rss)| rss),
            forwarded_packets: window_forwarded,
            run_forwarded_packets: delta(
                "trtc_sfu_forwarded_packets_total",
                &metrics_before,
                &metrics_last,
            ),
            run_nacked_packets: delta(
                "trtc_sfu_nacked_packets_total",
                &metrics_before,
                &metrics_last,
            ),
            run_dropped_packets: delta(
                "trtc_sfu_dropped_packets_total",
                &metrics_before,
                &metrics_last,
            ),
            run_keyframe_requests: delta(
                "trtc_sfu_keyframe_requests_total",
                &metrics_before,
                &metrics_last,
            ),
        }
    });
    Ok(report::Report {
        layout: report::Layout {
            rooms: cli.rooms,
            publishers_per_room: cli.publishers,
            subscribers_per_room: cli.subscribers,
            scene: cli.scene.name().to_owned(),
            video: video.map(|v| format!("{}x{}@{} {} kbps", v.width, v.height, v.fps, v.kbps)),
            audio,
        },
        window_s,
        timeline,
        joins,
        failures,
        senders,
        receivers,
        totals,
        server,
    })
}

/// The server process's CPU seconds and RSS, read from `/proc` off the runtime's workers.
async fn process_of(pid: Option<u32>) -> Option<(f64, u64)> {
    let pid = pid?;
    tokio::task::spawn_blocking(move || server_probe::process(pid).ok())
        .await
        .ok()
        .flatten()
}

async fn scrape_opt(
    url: &Option<String>,
) -> anyhow::Result<Option<std::collections::HashMap<String, f64>>> {
    Ok(match url {
        Some(url) => Some(server_probe::scrape(url).await?),
        None => None,
    })
}

fn parse_video(cli: &Cli) -> anyhow::Result<Option<clip::VideoShape>> {
    if cli.video == "none" {
        return Ok(None);
    }
    let (w, h) = cli
        .video
        .split_once('x')
        .context("--video: WIDTHxHEIGHT or none")?;
    let (width, height): (usize, usize) = (w.parse()?, h.parse()?);
    anyhow::ensure!(
        (16..=1920).contains(&width) && (16..=1080).contains(&height),
        "--video: 16x16 to 1920x1080"
    );
    Ok(Some(clip::VideoShape {
        width: width & !1,
        height: height & !1,
        fps: cli.fps,
        kbps: cli.video_kbps,
    }))
}

/// The server's IP, which must be this machine's: room-load is a benchmark, not a way to load
/// someone else's server.
fn loopback_host(url: &str) -> anyhow::Result<std::net::IpAddr> {
    let rest = url
        .strip_prefix("ws://")
        .context("--server: ws://127.0.0.1:PORT")?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let ip: std::net::IpAddr = match host.trim_matches(['[', ']']) {
        "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        h => h
            .parse()
            .with_context(|| format!("--server: {h:?} is not an IP address"))?,
    };
    anyhow::ensure!(
        ip.is_loopback(),
        "--server: {ip} is not loopback; room-load runs on this machine only"
    );
    Ok(ip)
}

/// For each seat, the streams it should receive: every other publisher's in its room.
fn expected_streams(seats: &[Seat], video: bool, audio: bool) -> Vec<Vec<(String, StreamKind)>> {
    let kinds: Vec<StreamKind> = [(video, StreamKind::Big), (audio, StreamKind::Audio)]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect();
    seats
        .iter()
        .map(|me| {
            seats
                .iter()
                .filter(|p| p.publishes && p.room == me.room && p.user != me.user)
                .flat_map(|p| kinds.iter().map(|k| (p.user.clone(), *k)))
                .collect()
        })
        .collect()
}

async fn wait_for_joins(seats: &[Seat]) -> report::Joins {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && seats.iter().any(|s| s.probe.entered.get().is_none()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut times = vec![];
    let mut joins = report::Joins {
        attempted: seats.len(),
        ..Default::default()
    };
    for s in seats {
        match s.probe.entered.get() {
            Some(Ok(t)) => times.push(t.as_secs_f64() * 1000.0),
            Some(Err(e)) if joins.errors.len() < 10 => {
                joins.errors.push(format!("{}: {e}", s.user))
            }
            Some(Err(_)) => {}
            None if joins.errors.len() < 10 => joins
                .errors
                .push(format!("{}: no onEnterRoom in 30 s", s.user)),
            None => {}
        }
    }
    times.sort_by(f64::total_cmp);
    joins.entered = times.len();
    joins.p50_ms = report::percentile(&times, 50.0);
    joins.p99_ms = report::percentile(&times, 99.0);
    joins.max_ms = times.last().copied().unwrap_or(0.0);
    joins
}

async fn wait_for_streams(seats: &[Seat], expected: &[Vec<(String, StreamKind)>], limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let all = seats.iter().zip(expected).all(|(s, want)| {
            let got = s.probe.counters.get().map(|c| c.read()).unwrap_or_default();
            want.iter()
                .all(|k| got.get(k).is_some_and(|c| c.packets > 0))
        });
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("room-load: not every stream arrived within the warmup; measuring anyway");
}

/// Every receiver's packets and losses so far, over all its streams.
fn counted(seats: &[Seat]) -> (u64, u64) {
    seats
        .iter()
        .filter_map(|s| s.probe.counters.get())
        .flat_map(|c| c.read().into_values())
        .fold((0, 0), |(p, l), c| (p + c.packets, l + c.lost))
}

fn sent(seats: &[Seat]) -> Vec<Option<trtc_rtc::client::PublisherStats>> {
    seats
        .iter()
        .map(|s| s.probe.publisher.get().map(|p| p.stats()))
        .collect()
}

fn snapshots(seats: &[Seat]) -> Vec<report::Snapshot> {
    seats
        .iter()
        .map(|s| s.probe.counters.get().map(|c| c.read()).unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn only_this_machine_is_a_target() {
        assert!(loopback_host("ws://127.0.0.1:8080").is_ok());
        assert!(loopback_host("ws://localhost:8080/ws").is_ok());
        assert!(loopback_host("ws://[::1]:8080").is_ok());
        for url in [
            "ws://10.0.0.5:8080",
            "ws://example.com:8080",
            "wss://127.0.0.1:8080",
        ] {
            assert!(loopback_host(url).is_err(), "{url}");
        }
    }
}
