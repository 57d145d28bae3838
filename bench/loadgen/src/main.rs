//! `loadgen`: the end-to-end load generator of issue 6 (bench/PROTOCOLS.md describes the
//! servers it drives). Each run prints one JSON result line on stdout and a human summary on
//! stderr; it exits 1 when a message was lost or duplicated (unless `--allow-loss`) and 2 on
//! a setup error.

mod broker;
mod clock;
mod conn;
mod http1;
mod payload;
mod poll;
mod procfs;
mod proto;
mod scenario;

use clap::{Parser, Subcommand};
use scenario::Common;

#[derive(Parser, Debug)]
#[command(name = "loadgen", about = "Switchboard end-to-end load generator")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// N subscribers, M broadcasts back to back from one publisher (with `--second-url`, over
    /// two nodes of a cluster).
    Burst {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::burst::Args,
    },
    /// One broadcast per second to N subscribers: time until all have it (with
    /// `--second-url`, over two nodes of a cluster).
    Paced {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::paced::Args,
    },
    /// R rooms of S subscribers, random publishers at a total rate.
    Rooms {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::rooms::Args,
    },
    /// N clients connect and join as fast as the server accepts.
    ConnectStorm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::storm::Args,
    },
    /// Clients join and leave a presence topic; diffs delivered to watchers (Phoenix only).
    PresenceChurn {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::churn::Args,
    },
    /// N connected, joined, idle clients: server RSS per client.
    Idle {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::idle::Args,
    },
    /// K clients each keep one `ping` push in flight: handle_in request/answer round trips.
    Roundtrip {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::roundtrip::Args,
    },
    /// N clients rejoin at once with `_since` after an outage in which M messages were
    /// broadcast: time and server CPU to replay them (a server with history).
    Resume {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::resume::Args,
    },
    /// N subscribers of one room over long-polling (or WebSocket), one publisher at a fixed
    /// rate: deliveries/s and server CPU per delivery per transport.
    LongpollRoom {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: scenario::longpoll::Args,
    },
}

impl Scenario {
    fn common(&self) -> &Common {
        match self {
            Scenario::Burst { common, .. }
            | Scenario::Paced { common, .. }
            | Scenario::Rooms { common, .. }
            | Scenario::ConnectStorm { common, .. }
            | Scenario::PresenceChurn { common, .. }
            | Scenario::Idle { common, .. }
            | Scenario::Roundtrip { common, .. }
            | Scenario::Resume { common, .. }
            | Scenario::LongpollRoom { common, .. } => common,
        }
    }

    async fn run(&self) -> Result<scenario::Outcome, String> {
        match self {
            Scenario::Burst { common, args } => scenario::burst::run(common, args).await,
            Scenario::Paced { common, args } => scenario::paced::run(common, args).await,
            Scenario::Rooms { common, args } => scenario::rooms::run(common, args).await,
            Scenario::ConnectStorm { common, args } => scenario::storm::run(common, args).await,
            Scenario::PresenceChurn { common, args } => scenario::churn::run(common, args).await,
            Scenario::Idle { common, args } => scenario::idle::run(common, args).await,
            Scenario::Roundtrip { common, args } => scenario::roundtrip::run(common, args).await,
            Scenario::Resume { common, args } => scenario::resume::run(common, args).await,
            Scenario::LongpollRoom { common, args } => scenario::longpoll::run(common, args).await,
        }
    }
}

fn main() {
    let cli = Cli::parse();
    clock::now_ns();
    let nofile = procfs::raise_nofile();
    let threads = cli.scenario.common().threads.max(1);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start tokio: {e}");
            std::process::exit(2);
        }
    };
    let outcome = runtime.block_on(cli.scenario.run());
    // Connections still open are dropped with the runtime.
    drop(runtime);
    match outcome {
        Ok(o) => {
            println!("{}", o.result);
            eprintln!("{}", o.summary);
            if o.lost && !cli.scenario.common().allow_loss {
                eprintln!("loadgen: messages lost, duplicated or clients dropped (see \"loss\")");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e} (open-file limit {nofile})");
            std::process::exit(2);
        }
    }
}
