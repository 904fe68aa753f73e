//! `serve` under slow and long-lived clients (issue 17, "Connections"), on a
//! real loopback socket with raw tokio clients: a body sent one byte at a
//! time is cut at the body deadline, SSE streams have a cap of their own and
//! hold no request slot, and a burst past the connection cap waits for slots
//! instead of being refused — while a client that never finishes its head is
//! still closed at the header deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use villa_telemetry::serve::{self, AppState};

use crate::serve::{closed_within, raw_exchange, serve_on_socket_with, write_config};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const STATUS: &[u8] =
    b"GET /api/telemetry/status.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const EVENTS: &[u8] =
    b"GET /api/telemetry/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";

/// A server under `limits` whose checks fail fast (nothing listens on port 9).
async fn start(limits: serve::Limits) -> (String, Arc<AppState>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9", "1h");
    let (base, state) = serve_on_socket_with(&config, limits).await;
    (base.trim_start_matches("http://").to_owned(), state, dir)
}

/// Reads from `conn` until the end of a response head (at most `limit`).
async fn read_head(conn: &mut TcpStream, limit: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(limit, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

/// What a client that sends its body one byte every 100 ms saw: how long
/// after connecting the server answered or closed, and the answer.
struct Dribbled {
    after: Option<Duration>,
    answer: String,
}

/// POSTs a 1000-byte body to `/mcp` one byte every 100 ms (100 s in all),
/// stopping once the server answers or closes (giving up after 15 s).
async fn dribble_body(addr: &str) -> Dribbled {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    conn.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match conn.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        if conn.write_all(b" ").await.is_err() {
            break;
        }
    }
    let after = (started.elapsed() < Duration::from_secs(15)).then(|| started.elapsed());
    // The rest of the answer, if it came in pieces.
    let _ = tokio::time::timeout(Duration::from_millis(500), conn.read_to_end(&mut answer)).await;
    Dribbled {
        after,
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}

/// Four clients dribbling bodies on a server with two slots and a 1 s body
/// deadline: each is answered 408 (and closed) a deadline after it was
/// served, so the two waves are done by ~2 s, and a `/healthz` sent behind
/// them waits for a slot and is answered 200. Before the deadline existed a
/// dribbling client held its slot for as long as it kept sending (still open
/// after 15 s) and `/healthz` was refused 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_cut_at_the_body_deadline() {
    let limits = serve::Limits {
        max_connections: 2,
        body_timeout: Duration::from_secs(1),
        queue_wait: Duration::from_secs(5),
        ..serve::Limits::default()
    };
    let (addr, state, _dir) = start(limits).await;
    let started = Instant::now();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move { dribble_body(&addr).await })
        })
        .collect();
    // Behind the four, so it waits for the second wave to be cut.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let healthz = raw_exchange(&addr, HEALTHZ).await;
    let healthz_after = started.elapsed();
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz:?}");
    let mut cut = Vec::new();
    for s in slow {
        let d = s.await.unwrap();
        assert!(d.answer.starts_with("HTTP/1.1 408"), "{:?}", d.answer);
        assert!(
            d.answer.contains("did not arrive within 1 s"),
            "{:?}",
            d.answer
        );
        cut.push(d.after.expect("the dribbling client is cut off"));
    }
    cut.sort();
    eprintln!("slow bodies cut after {cut:?}; /healthz answered after {healthz_after:?}");
    // The first wave was served at once: cut at the deadline, not later.
    assert!(
        cut[0] >= Duration::from_millis(900) && cut[1] < Duration::from_millis(1800),
        "{cut:?}"
    );
    // The second waited ~1 s for its slots, then got one deadline.
    assert!(cut[3] < Duration::from_millis(3200), "{cut:?}");
    assert!(
        healthz_after < Duration::from_millis(3500),
        "{healthz_after:?}"
    );
    assert_eq!(state.runs(), 0, "no body reached /mcp, nothing ran");
}

/// A body larger than the cap is refused from its `Content-Length` alone,
/// before a byte of it is read.
#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let limits = serve::Limits {
        max_body: 1024,
        ..serve::Limits::default()
    };
    let (addr, _state, _dir) = start(limits).await;
    let started = Instant::now();
    let answer = raw_exchange(
        &addr,
        b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("limited to 1024 bytes"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// SSE streams have a cap of their own (3 here) and give their connection's
/// request slot back: with 2 request slots and no waiting room, 3 streams
/// stay open, 3 more clients get 503, and `/healthz` and
/// `/api/telemetry/status.json` still answer 200 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_have_their_own_cap() {
    let limits = serve::Limits {
        max_connections: 2,
        max_sse: 3,
        queue: 0,
        ..serve::Limits::default()
    };
    let (addr, _state, _dir) = start(limits).await;
    let mut open = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..6 {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        conn.write_all(EVENTS).await.unwrap();
        let head = read_head(&mut conn, Duration::from_secs(3)).await;
        if head.starts_with("HTTP/1.1 200") {
            assert!(head.contains("text/event-stream"), "{head:?}");
            open.push(conn);
        } else {
            refused.push(head);
        }
    }
    assert_eq!(open.len(), 3, "streams open; refused: {refused:?}");
    assert_eq!(refused.len(), 3);
    for head in &refused {
        assert!(head.starts_with("HTTP/1.1 503"), "{head:?}");
        assert!(head.contains("connection: close"), "{head:?}");
    }
    let started = Instant::now();
    for request in [HEALTHZ, STATUS, HEALTHZ] {
        let answer = raw_exchange(&addr, request).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The three streams are still open (a report event or a keep-alive
    // comment may have come; the server has not closed them).
    for conn in &mut open {
        assert!(
            closed_within(conn, Duration::from_millis(200))
                .await
                .is_none()
        );
    }
    // A stream that ends frees its stream slot.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(&addr).await.unwrap();
    again.write_all(EVENTS).await.unwrap();
    let head = read_head(&mut again, Duration::from_secs(3)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
}

/// Two slots, one of them held by a client that dribbles its head: a burst
/// of 40 concurrent requests all get 200 (they wait for the free slot in
/// turn), and the dribbler is still closed at the 2 s header deadline.
/// Without the waiting room 4 of 40 got 200 and the rest an immediate 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_cap_waits_for_slots() {
    let limits = serve::Limits {
        max_connections: 2,
        header_timeout: Duration::from_secs(2),
        ..serve::Limits::default()
    };
    let (addr, _state, _dir) = start(limits).await;
    let dribbler = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut conn = TcpStream::connect(&addr).await.unwrap();
            let started = Instant::now();
            let _ = conn.write_all(b"GET /healthz HTTP/1.1\r\n").await;
            for i in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let line = format!("X-Slow-{i}: 1\r\n");
                if conn.write_all(line.as_bytes()).await.is_err()
                    || closed_within(&mut conn, Duration::from_millis(1))
                        .await
                        .is_some()
                {
                    return Some(started.elapsed());
                }
            }
            None
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let burst: Vec<_> = (0..40)
        .map(|i| {
            let addr = addr.clone();
            let request = if i % 4 == 0 { STATUS } else { HEALTHZ };
            tokio::spawn(async move { raw_exchange(&addr, request).await })
        })
        .collect();
    let mut ok = 0;
    for b in burst {
        let answer = b.await.unwrap();
        if answer.starts_with("HTTP/1.1 200") {
            ok += 1;
        } else {
            eprintln!("not 200: {answer:?}");
        }
    }
    let burst_took = started.elapsed();
    let cut = dribbler.await.unwrap().expect("the dribbler is closed");
    eprintln!("burst: {ok}/40 got 200 in {burst_took:?}; dribbler closed after {cut:?}");
    assert_eq!(ok, 40);
    assert!(
        cut >= Duration::from_millis(1800) && cut < Duration::from_millis(3500),
        "{cut:?}"
    );
}

/// An HTTP/1 connection left idle after its response gives its slot back
/// at the header deadline: with one slot and no waiting room, the next
/// client is served once the idle one is closed.
#[tokio::test]
async fn an_idle_keep_alive_connection_gives_its_slot_back() {
    let limits = serve::Limits {
        max_connections: 1,
        header_timeout: Duration::from_secs(1),
        queue: 0,
        ..serve::Limits::default()
    };
    let (addr, _state, _dir) = start(limits).await;
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut idle, Duration::from_secs(2)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
    let refused = raw_exchange(&addr, HEALTHZ).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    let closed = closed_within(&mut idle, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the idle connection stays open");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = raw_exchange(&addr, HEALTHZ).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}
