//! `netlab-relay`: a relay in front of a room server's media ports that impairs what passes,
//! following a schedule. Stdout: `relaying FRONT:LO-HI to SERVER` once every port is bound,
//! then one JSON line per step as it begins and, every `--report` seconds, the counters.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use trtc_netlab::{parse_schedule, Relay, RelayAddrs};

/// Sits between clients and a room-server started with `--public-ip FRONT --rtc-udp-ports
/// LO-HI` (on SERVER), impairing media both ways. Signalling is not touched.
#[derive(Parser, Debug)]
#[command(name = "netlab-relay", version)]
struct Cli {
    /// The server's media ports, LO-HI (its --rtc-udp-ports).
    #[arg(long, value_parser = port_range)]
    ports: (u16, u16),
    /// Where clients send: the server's --public-ip.
    #[arg(long, default_value = "127.0.0.2")]
    front: IpAddr,
    /// Where the relay's own sockets towards the server bind.
    #[arg(long, default_value = "127.0.0.3")]
    back: IpAddr,
    /// Where the server's media sockets are (its listen address).
    #[arg(long, default_value = "127.0.0.1")]
    server: IpAddr,
    /// Print the counters every this many seconds (0: never).
    #[arg(long, default_value_t = 2.0)]
    report: f64,
    /// The link: `rate=300kbit delay=100ms jitter=30ms loss=5%`, or steps
    /// `rate=2mbit for 10s; rate=300kbit for 15s; rate=2mbit` (the last one holds). Words:
    /// clean, loss=P%, up-loss=P%, down-loss=P%, burst=P%[/N], delay=D, jitter=D, rate=R
    /// (bit/kbit/mbit/gbit), cut, drop-every-rtp=N.
    link: String,
}

fn port_range(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text.split_once('-').ok_or("LO-HI, like 50000-50019")?;
    let lo: u16 = lo.parse().map_err(|_| format!("`{lo}`: not a port"))?;
    let hi: u16 = hi.parse().map_err(|_| format!("`{hi}`: not a port"))?;
    if lo == 0 || lo > hi {
        return Err("LO must be above 0 and at most HI".into());
    }
    Ok((lo, hi))
}

/// One line on stdout, flushed: scripts read it as it happens.
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// A bad command line, as room-bot says it.
const USAGE: u8 = 64;

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let help = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            return Ok(std::process::ExitCode::from(if help { 0 } else { USAGE }));
        }
    };
    let steps = match parse_schedule(&cli.link) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netlab-relay: {e}");
            return Ok(std::process::ExitCode::from(USAGE));
        }
    };
    tokio::runtime::Runtime::new()?.block_on(run(cli, steps))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run(cli: Cli, steps: Vec<trtc_netlab::Step>) -> anyhow::Result<()> {
    let addrs = RelayAddrs {
        front: cli.front,
        back: cli.back,
        server: cli.server,
    };
    let (lo, hi) = cli.ports;
    let relay = Relay::start(addrs, lo..=hi)
        .await
        .with_context(|| format!("binding {}:{lo}-{hi}", cli.front))?;
    say(&format!(
        "relaying {}:{lo}-{hi} to {}",
        cli.front, cli.server
    ));
    let start = Instant::now();
    let follower = relay.clone();
    tokio::spawn(async move {
        follower
            .follow(&steps, |n, step| {
                let line = serde_json::json!({
                    "step": n + 1,
                    "link": step.text,
                    "at": start.elapsed().as_secs_f64(),
                });
                say(&line.to_string());
            })
            .await
    });
    if cli.report > 0.0 {
        let every = Duration::from_secs_f64(cli.report);
        let counters = std::sync::Arc::clone(&relay.counters);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let c = &counters;
                let line = serde_json::json!({
                    "at": start.elapsed().as_secs_f64(),
                    "up": c.all_up.load(Ordering::Relaxed),
                    "down": c.all_down.load(Ordering::Relaxed),
                    "rtpBytesUp": c.rtp_bytes_up.load(Ordering::Relaxed),
                    "dropped": c.dropped.load(Ordering::Relaxed),
                    "queueDropped": c.queue_dropped.load(Ordering::Relaxed),
                });
                say(&line.to_string());
            }
        });
    }
    // Until SIGINT or SIGTERM; either ends it cleanly (exit 0).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
