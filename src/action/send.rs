//! Sends a prepared request under its timeout and reads the start of the answer.

use std::sync::LazyLock;
use std::time::Duration;

use futures::StreamExt;

use super::resolve::Prepared;

/// Most bytes of an answer read (the rest is dropped unread).
pub const ANSWER_CAP: usize = 64 * 1024;
/// Characters of an answer shown and audited (after masking).
pub const ANSWER_SHOWN: usize = 500;

/// What the upstream said.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The start of the body, secrets masked.
    pub body: String,
}

impl Answer {
    /// 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The client every action uses: no redirects (a redirect must not carry
/// a token to another origin, nor turn a POST into something else).
pub fn client() -> reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .user_agent(concat!(
                "villa-telemetry-action/",
                env!("CARGO_PKG_VERSION")
            ))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the TLS backend is compiled in")
    });
    CLIENT.clone()
}

/// Sends `p`; the whole exchange (connect, answer, body) is bounded by its
/// timeout. `Err` is why no answer came, secrets masked.
pub async fn send(p: &Prepared) -> Result<Answer, String> {
    let exchange = async {
        let mut req = client().request(p.method.clone(), &p.url);
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &p.body {
            req = req.body(b.clone());
        }
        let resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        let mut stream = resp.bytes_stream();
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe(&e))?;
            let room = ANSWER_CAP - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= ANSWER_CAP {
                break;
            }
        }
        Ok::<_, String>(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    match tokio::time::timeout(p.timeout, exchange).await {
        Ok(Ok(mut a)) => {
            a.body = p.redactor.redact_then_cut(a.body.trim(), ANSWER_SHOWN);
            Ok(a)
        }
        Ok(Err(e)) => Err(p.redactor.redact(&e).into_owned()),
        Err(_) => Err(format!(
            "no answer within {} (the action timeout)",
            humantime::format_duration(p.timeout)
        )),
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
