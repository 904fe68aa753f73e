//! Fake upstreams for `benches/run.sh`: N loopback HTTP servers that answer
//! `GET /api/health/{i}` after a fixed delay with a small health JSON body.
//!
//! ```text
//! cargo run --release --example slow_hosts -- --hosts 4 --delay-ms 100 [--ports 4101,4102,...]
//! ```
//!
//! Prints one line of JSON on stdout once every listener is bound:
//! `{"ports":[41231,41232,41233,41234],"delay_ms":100}`, then serves until
//! killed (or until `--max-seconds`, so a forgotten process cannot linger).
//!
//! Written with tokio + axum rather than a scripting language's test server
//! so the upstream is not the bottleneck: a sleeping request costs a timer,
//! not a thread, and thousands can wait at once.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

const BODY: &str = r#"{"status":"ok","version":"1.0.0","commit":"abc1234"}"#;

struct Args {
    hosts: usize,
    delay: Duration,
    ports: Vec<u16>,
    max_seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        hosts: 4,
        delay: Duration::from_millis(100),
        ports: Vec::new(),
        max_seconds: 600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--hosts" => args.hosts = value()?.parse().map_err(|e| format!("--hosts: {e}"))?,
            "--delay-ms" => {
                let ms: u64 = value()?.parse().map_err(|e| format!("--delay-ms: {e}"))?;
                args.delay = Duration::from_millis(ms);
            }
            "--ports" => {
                args.ports = value()?
                    .split(',')
                    .map(|p| p.trim().parse().map_err(|e| format!("--ports {p}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--max-seconds" => {
                args.max_seconds = value()?
                    .parse()
                    .map_err(|e| format!("--max-seconds: {e}"))?
            }
            "-h" | "--help" => {
                println!(
                    "slow_hosts [--hosts N] [--delay-ms MS] [--ports P1,P2,..] [--max-seconds S]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !args.ports.is_empty() {
        args.hosts = args.ports.len();
    }
    if args.hosts == 0 {
        return Err("--hosts must be at least 1".into());
    }
    Ok(args)
}

async fn health(State(delay): State<Duration>, Path(_i): Path<u64>) -> impl IntoResponse {
    tokio::time::sleep(delay).await;
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("slow_hosts: {e}");
            std::process::exit(2);
        }
    };
    let app = Router::new()
        .route("/api/health/{i}", get(health))
        .with_state(args.delay);

    let mut ports = Vec::with_capacity(args.hosts);
    let mut servers = Vec::with_capacity(args.hosts);
    for i in 0..args.hosts {
        let port = args.ports.get(i).copied().unwrap_or(0);
        let listener = match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
        {
            Ok(l) => l,
            Err(e) => {
                eprintln!("slow_hosts: cannot bind 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        };
        ports.push(listener.local_addr().expect("bound").port());
        let app = app.clone();
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        }));
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    println!(
        "{{\"ports\":[{}],\"delay_ms\":{}}}",
        list.join(","),
        args.delay.as_millis()
    );

    // Bounded lifetime: stop on Ctrl-C / SIGTERM-less kill, or after max_seconds.
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(Duration::from_secs(args.max_seconds)) => {
            eprintln!("slow_hosts: --max-seconds reached, exiting");
        }
    }
}
