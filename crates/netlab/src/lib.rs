//! Emulated links for media, where the kernel has no `netem`: a user-space UDP relay that
//! caps, delays, jitters and loses datagrams (at random or in bursts), and changes what it
//! does on a schedule. The SDK's tests and benchmarks run calls through it; `netlab-relay`
//! puts it in front of a real `room-server` so a person can run the app or room-bots through
//! a bad network (`scripts/netlab.sh relay`).
//!
//! | module | what lives there |
//! |---|---|
//! | [`impairment`] | what a link does ([`Impairment`]), the dice, the text people write it in, schedules |
//! | [`relay`] | the relay ([`Relay`]): per-client links each way, counters |
//!
//! Drive it: start a server whose candidates advertise the relay (`public_ip`), then
//! `Relay::start(RelayAddrs::default(), ports)` and `relay.set(…)` or `relay.follow(&steps, …)`.

pub mod impairment;
pub mod relay;

pub use impairment::{parse_schedule, Burst, Impairment, ParseError, Step};
pub use relay::{Counters, Relay, RelayAddrs};
