//! `room-bot` (qa-contract §1): stdout carries only event lines; logs go to stderr.

use clap::{ArgGroup, Parser};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trtc_bot::{BotPlan, ExitCode, Media};
use trtc_sdk::{
    SessionTiming, SourceChoice, TrtcAppScene, TrtcCloudConfig, TrtcParams, TrtcRole,
    TrtcVideoEncParam, TrtcVideoResolution,
};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Headless TRTC client: enters a room and prints SDK events as JSON lines"
)]
#[command(group(ArgGroup::new("sig").required(true).args(["usersig", "secret"])))]
#[command(group(ArgGroup::new("room").required(true).args(["roomid", "str_roomid"])))]
struct Cli {
    /// Room server URL (ws:// or wss://).
    #[arg(long)]
    server: String,
    #[arg(long)]
    sdkappid: u32,
    #[arg(long)]
    userid: String,
    /// A userSig from your backend.
    #[arg(long)]
    usersig: Option<String>,
    /// Test signing: the bot signs its own userSig with this secret.
    #[arg(long)]
    secret: Option<String>,
    #[arg(long)]
    roomid: Option<u32>,
    #[arg(long = "str-roomid")]
    str_roomid: Option<String>,
    #[arg(long, default_value = "videocall", value_parser = parse_scene)]
    scene: TrtcAppScene,
    /// Used in live scenes.
    #[arg(long, default_value = "anchor", value_parser = parse_role)]
    role: TrtcRole,
    /// Stay this long after entering, then exitRoom; 0 = leave right away.
    #[arg(long)]
    duration: Option<f64>,
    /// Extension: give up reconnecting after this many seconds (exit 4).
    #[arg(long = "reconnect-timeout")]
    reconnect_timeout: Option<f64>,
    /// Extension: trust this PEM root certificate for wss:// servers.
    #[arg(long = "ca-cert")]
    ca_cert: Option<std::path::PathBuf>,
    /// Publish a camera: the test pattern, the system's camera, or nothing.
    #[arg(long, default_value = "none")]
    camera: SourceChoice,
    /// Publish a microphone: the 440 Hz tone, the system's microphone, or nothing.
    #[arg(long, default_value = "none")]
    mic: SourceChoice,
    /// Share the screen ($DISPLAY's primary screen) as the sub stream.
    #[arg(long)]
    screen: bool,
    /// Decode every remote video stream that becomes available (statistics show it).
    #[arg(long)]
    subscribe: bool,
    /// Extension: camera resolution as WIDTHxHEIGHT from TRTC's table (default 640x360).
    #[arg(long = "video-resolution", value_parser = parse_resolution)]
    video_resolution: Option<TrtcVideoResolution>,
    /// Extension: camera frames per second (default 15).
    #[arg(long = "video-fps", value_parser = clap::value_parser!(u32).range(1..=60))]
    video_fps: Option<u32>,
    /// Extension: camera bitrate in kbps (default: TRTC's recommendation for the resolution).
    #[arg(long = "video-bitrate", value_parser = clap::value_parser!(u32).range(30..=20000))]
    video_bitrate: Option<u32>,
}

fn parse_resolution(s: &str) -> Result<TrtcVideoResolution, String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?}: expected WIDTHxHEIGHT, for example 1280x720"))?;
    let (w, h): (u32, u32) = (
        w.parse()
            .map_err(|_| format!("{s:?}: width is not a number"))?,
        h.parse()
            .map_err(|_| format!("{s:?}: height is not a number"))?,
    );
    TrtcVideoResolution::from_size(w, h)
        .ok_or_else(|| format!("{s:?} is not in TRTC's resolution table"))
}

fn parse_scene(s: &str) -> Result<TrtcAppScene, String> {
    TrtcAppScene::from_name(s)
        .ok_or_else(|| "expected videocall, live, audiocall or voicechatroom".into())
}

fn parse_role(s: &str) -> Result<TrtcRole, String> {
    TrtcRole::from_name(s).ok_or_else(|| "expected anchor or audience".into())
}

fn seconds(flag: &str, v: f64) -> Result<Duration, String> {
    if (0.0..1e9).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("--{flag} must be a non-negative number of seconds"))
    }
}

fn plan(cli: Cli) -> Result<BotPlan, String> {
    let user_sig = match (cli.usersig, cli.secret) {
        (Some(sig), _) => sig,
        (None, Some(secret)) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            trtc_usersig::gen_user_sig(
                cli.sdkappid.into(),
                &secret,
                &cli.userid,
                trtc_usersig::DEFAULT_EXPIRE_SECS,
                now,
            )
        }
        (None, None) => return Err("one of --usersig or --secret is required".into()),
    };
    let params = TrtcParams {
        sdk_app_id: cli.sdkappid,
        user_id: cli.userid,
        user_sig,
        room_id: cli.roomid.unwrap_or(0),
        str_room_id: cli.str_roomid.unwrap_or_default(),
        role: cli.role,
        ..Default::default()
    };
    let mut timing = SessionTiming::default();
    if let Some(t) = cli.reconnect_timeout {
        timing.reconnect_timeout = seconds("reconnect-timeout", t)?;
    }
    let mut config = TrtcCloudConfig {
        server_url: cli.server,
        timing,
        extra_root_certs: vec![],
        camera: cli.camera,
        mic: cli.mic,
        // A headless bot plays nothing; its statistics show what it receives.
        speaker: SourceChoice::None,
    };
    if let Some(path) = cli.ca_cert {
        let pem = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        config = config.with_root_cert(
            pem_to_der(&pem).ok_or_else(|| format!("{}: no PEM certificate", path.display()))?,
        );
    }
    let duration = cli.duration.map(|d| seconds("duration", d)).transpose()?;
    Ok(BotPlan {
        params,
        scene: cli.scene,
        duration,
        config,
        video: {
            let mut p = TrtcVideoEncParam::default();
            if let Some(r) = cli.video_resolution {
                p.video_resolution = r;
                p.video_bitrate = r.recommended_kbps(false);
            }
            if let Some(f) = cli.video_fps {
                p.video_fps = f;
            }
            if let Some(b) = cli.video_bitrate {
                p.video_bitrate = b;
            }
            p
        },
        media: Media {
            camera: cli.camera != SourceChoice::None,
            mic: cli.mic != SourceChoice::None,
            screen: cli.screen,
            subscribe: cli.subscribe,
        },
    })
}

/// The first certificate of a PEM file, decoded.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .filter(|d| !d.is_empty())
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(ExitCode::Usage as u8);
        }
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let plan = match plan(cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(ExitCode::Usage as u8);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(trtc_bot::run(
        plan,
        |event| {
            let mut out = std::io::stdout().lock();
            // A closed stdout (the script stopped reading) must not kill the bot mid-room.
            let _ = writeln!(out, "{}", event.to_line());
            let _ = out.flush();
        },
        stop_signal(),
    ));
    std::process::ExitCode::from(code as u8)
}
