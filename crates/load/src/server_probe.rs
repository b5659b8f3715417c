//! The server's side of the figures: its CPU time and memory from `/proc/PID` (any server,
//! ours or Janus), and our server's counters from its `/metrics`.

use anyhow::Context;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `/proc` times are in USER_HZ, fixed at 100 by the kernel's ABI on the architectures we build for.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) and resident bytes of process `pid`.
pub fn process(pid: u32) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields are numbered from 1 and the first after the name is field 3; utime, stime: 14, 15.
    let ticks =
        |n: usize| -> anyhow::Result<u64> { Ok(fields.get(n - 3).context("short stat")?.parse()?) };
    let cpu = (ticks(14)? + ticks(15)?) as f64 / USER_HZ;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    Ok((cpu, rss_kib * 1024))
}

/// Samples of `url` (`http://host:port/path`), by name (labels kept as part of the name).
pub async fn scrape(url: &str) -> anyhow::Result<HashMap<String, f64>> {
    let rest = url
        .strip_prefix("http://")
        .context("--metrics-url must start with http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP response")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{url}: {}",
        head.lines().next().unwrap_or("")
    );
    Ok(parse(body))
}

fn parse(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_are_read_with_their_labels() {
        let page = "# TYPE a counter\na 12\nb{role=\"x\"} 3.5\n";
        let m = super::parse(page);
        assert_eq!(m.get("a"), Some(&12.0));
        assert_eq!(m.get("b{role=\"x\"}"), Some(&3.5));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn this_process_reads_as_using_memory() {
        let (cpu, rss) = super::process(std::process::id()).expect("own /proc");
        assert!(cpu >= 0.0);
        assert!(rss > 1 << 20, "{rss}");
    }
}
