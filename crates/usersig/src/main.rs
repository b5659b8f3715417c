//! `usersig`: generate, verify and decode TLS-Sig v2 tickets (qa-contract §1).

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use trtc_usersig::{PmkRoom, DEFAULT_EXPIRE_SECS, PRIVILEGE_ALL};

#[derive(Parser, Debug)]
#[command(version, about = "TLS-Sig-API v2 compatible userSig tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a userSig.
    Gen {
        #[arg(long)]
        sdkappid: u64,
        #[arg(long)]
        secret: String,
        #[arg(long)]
        userid: String,
        #[arg(long, default_value_t = DEFAULT_EXPIRE_SECS)]
        expire: u64,
        /// Issue time in Unix seconds instead of now (reproducible tickets).
        #[arg(long)]
        now: Option<u64>,
    },
    /// Print a privateMapKey.
    Pmk {
        #[arg(long)]
        sdkappid: u64,
        #[arg(long)]
        secret: String,
        #[arg(long)]
        userid: String,
        #[arg(
            long,
            conflicts_with = "str_roomid",
            required_unless_present = "str_roomid"
        )]
        roomid: Option<u32>,
        #[arg(long = "str-roomid")]
        str_roomid: Option<String>,
        #[arg(long, default_value_t = PRIVILEGE_ALL)]
        privilege: u32,
        #[arg(long, default_value_t = DEFAULT_EXPIRE_SECS)]
        expire: u64,
        /// Issue time in Unix seconds instead of now.
        #[arg(long)]
        now: Option<u64>,
    },
    /// Exit 0 and print `ok` if SIG is valid; else exit 1 with one reason word on stderr.
    Verify {
        #[arg(long)]
        sdkappid: u64,
        #[arg(long)]
        secret: String,
        #[arg(long)]
        userid: String,
        /// Check at this Unix time instead of now.
        #[arg(long)]
        now: Option<u64>,
        sig: String,
    },
    /// Print the JSON document inside SIG.
    Decode { sig: String },
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[allow(clippy::print_stdout)] // stdout is this tool's output
fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Gen {
            sdkappid,
            secret,
            userid,
            expire,
            now,
        } => {
            println!(
                "{}",
                trtc_usersig::gen_user_sig(
                    sdkappid,
                    &secret,
                    &userid,
                    expire,
                    now.unwrap_or_else(unix_now)
                )
            );
        }
        Command::Pmk {
            sdkappid,
            secret,
            userid,
            roomid,
            str_roomid,
            privilege,
            expire,
            now,
        } => {
            let room = match (roomid, str_roomid) {
                (Some(n), _) => PmkRoom::Num(n),
                (None, Some(s)) => PmkRoom::Str(s),
                (None, None) => unreachable!("clap requires one of --roomid/--str-roomid"),
            };
            let now = now.unwrap_or_else(unix_now);
            println!(
                "{}",
                trtc_usersig::gen_private_map_key(
                    sdkappid, &secret, &userid, &room, privilege, expire, now
                )
            );
        }
        Command::Verify {
            sdkappid,
            secret,
            userid,
            now,
            sig,
        } => {
            match trtc_usersig::verify_user_sig(
                &sig,
                sdkappid,
                &secret,
                &userid,
                now.unwrap_or_else(unix_now),
            ) {
                Ok(_) => println!("ok"),
                Err(e) => {
                    eprintln!("{}", e.word());
                    return ExitCode::from(1);
                }
            }
        }
        Command::Decode { sig } => match trtc_usersig::decode(&sig) {
            Ok(doc) => println!("{}", doc.to_json()),
            Err(e) => {
                eprintln!("{}", e.word());
                return ExitCode::from(1);
            }
        },
    }
    ExitCode::SUCCESS
}
