//! Heartbeat plugin: is a cron job running on schedule?
//!
//! It reads the job's last run time from a JSON endpoint (for example a
//! Healthchecks.io check, whose `last_ping` field is exactly this) and judges
//! it against the cron schedule the way Healthchecks.io does: the job is
//! **up** until the first scheduled run after its last run, **late** during
//! the grace period after that, and **down** once the grace period is over.
wit_bindgen::generate!({ path: "../wit", world: "check-plugin" });

use chrono::{DateTime, Utc};
use serde::Deserialize;
use villa::telemetry::host::{self, HttpError, HttpRequest, LogLevel};
use villa::telemetry::types::Status;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// JSON endpoint that reports the last run.
    url: String,
    /// Dotted key path to the timestamp inside the JSON (`last_ping`,
    /// `$.check.last_ping`, `runs.0.at`).
    #[serde(default = "default_path")]
    path: String,
    /// Cron expression (5 fields, or 6 with seconds), evaluated in UTC.
    schedule: String,
    /// How long after a missed run the job is "late" rather than "down".
    #[serde(default = "default_grace")]
    grace: String,
    /// Name of an allowed env var whose value is sent as `X-Api-Key`
    /// (Healthchecks.io's read-only API key header).
    #[serde(default)]
    api_key_env: Option<String>,
}

fn default_path() -> String {
    "last_ping".into()
}

fn default_grace() -> String {
    "1h".into()
}

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        serde_json::json!({
            "name": "heartbeat",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cron job heartbeat: up / late / down from the last run time and the schedule",
            "config": {
                "url": "string, required: JSON endpoint reporting the last run",
                "path": "string, default \"last_ping\": dotted key path to an RFC 3339 or unix-seconds timestamp",
                "schedule": "string, required: cron expression, UTC",
                "grace": "duration, default \"1h\": how long a missed run counts as late, not down",
                "api_key_env": "string, optional: allowed env var sent as X-Api-Key"
            }
        })
        .to_string()
    }

    fn run(input: CheckInput) -> Result<CheckOutput, String> {
        let config: Config =
            serde_json::from_str(&input.config_json).map_err(|e| format!("bad config: {e}"))?;
        let schedule = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(&config.schedule)
            .map_err(|e| format!("bad schedule {:?}: {e}", config.schedule))?;
        let grace = humantime::parse_duration(&config.grace)
            .map_err(|e| format!("bad grace {:?}: {e}", config.grace))?;
        let grace =
            chrono::Duration::from_std(grace).map_err(|e| format!("grace too long: {e}"))?;

        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if let Some(name) = &config.api_key_env {
            let key = input
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone());
            let key =
                key.ok_or_else(|| format!("api_key_env {name:?} is not in the check's allow.env"))?;
            headers.push(("x-api-key".into(), key));
        }
        let req = HttpRequest {
            method: "GET".into(),
            url: config.url.clone(),
            headers,
            body: None,
        };
        let resp = host::http_fetch(&req).map_err(|e| fetch_error(&config.url, e))?;
        if !(200..300).contains(&resp.status) {
            return Err(format!("{} answered HTTP {}", config.url, resp.status));
        }
        let doc: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|e| format!("{} did not return JSON: {e}", config.url))?;
        let raw = lookup(&doc, &config.path)
            .ok_or_else(|| format!("no field {:?} in the response", config.path))?;

        let now = now();
        let mut fields = serde_json::Map::new();
        fields.insert("schedule".into(), config.schedule.clone().into());
        fields.insert("grace".into(), config.grace.clone().into());
        let Some(last_run) = parse_time(raw)? else {
            // Healthchecks reports `null` before the first ping: "new", not down.
            fields.insert("state".into(), "new".into());
            return Ok(output(
                Status::Unknown,
                "no run recorded yet".into(),
                fields,
            ));
        };
        let next_expected = schedule
            .find_next_occurrence(&last_run, false)
            .map_err(|e| {
                format!(
                    "schedule {:?} has no run after {last_run}: {e}",
                    config.schedule
                )
            })?;
        let deadline = next_expected + grace;
        let (state, status, summary) = if now < next_expected {
            let summary = format!(
                "last run {}, next expected {}",
                when(last_run, now),
                when(next_expected, now)
            );
            ("up", Status::Pass, summary)
        } else if now < deadline {
            let summary = format!(
                "late: expected {}, last run {}, down after {}",
                when(next_expected, now),
                when(last_run, now),
                when(deadline, now)
            );
            ("late", Status::Warn, summary)
        } else {
            let summary = format!(
                "down: expected {}, last run {}",
                when(next_expected, now),
                when(last_run, now)
            );
            ("down", Status::Fail, summary)
        };
        host::log(
            LogLevel::Debug,
            &format!("last run {last_run}, next expected {next_expected}, now {now}"),
        );
        fields.insert("state".into(), state.into());
        fields.insert("last_run".into(), last_run.to_rfc3339().into());
        fields.insert("next_expected".into(), next_expected.to_rfc3339().into());
        fields.insert("down_after".into(), deadline.to_rfc3339().into());
        fields.insert("age_seconds".into(), (now - last_run).num_seconds().into());
        Ok(output(status, summary, fields))
    }
}

fn output(
    status: Status,
    summary: String,
    fields: serde_json::Map<String, serde_json::Value>,
) -> CheckOutput {
    CheckOutput {
        status,
        summary,
        fields_json: Some(serde_json::Value::Object(fields).to_string()),
    }
}

fn fetch_error(url: &str, e: HttpError) -> String {
    match e {
        HttpError::Denied(why) => format!("fetching {url} was denied: {why}"),
        HttpError::Timeout => format!("fetching {url} timed out"),
        HttpError::TooLarge => format!("{url} returned a body larger than allowed"),
        HttpError::Transport(why) => format!("fetching {url} failed: {why}"),
    }
}

/// The WASI wall clock, through std.
fn now() -> DateTime<Utc> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
        .unwrap_or_default()
}

/// Follows a dotted key path (`a.b.0.c`, optional leading `$.`).
fn lookup<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let path = path
        .strip_prefix("$.")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or(path);
    path.split('.')
        .filter(|seg| !seg.is_empty())
        .try_fold(doc, |node, seg| match node {
            serde_json::Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
            _ => node.get(seg),
        })
}

/// RFC 3339 strings or unix seconds (number or numeric string); `null` means "never".
fn parse_time(v: &serde_json::Value) -> Result<Option<DateTime<Utc>>, String> {
    let from_secs = |secs: f64| {
        DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
            .ok_or_else(|| format!("timestamp {secs} is out of range"))
    };
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => from_secs(n.as_f64().unwrap_or(f64::NAN)).map(Some),
        serde_json::Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                Ok(Some(t.with_timezone(&Utc)))
            } else if let Ok(secs) = s.parse::<f64>() {
                from_secs(secs).map(Some)
            } else {
                Err(format!("{s:?} is neither RFC 3339 nor unix seconds"))
            }
        }
        other => Err(format!("last run {other} is not a timestamp")),
    }
}

/// "03:00 UTC today" / "03:00 UTC tomorrow" / "2024-05-01 03:00 UTC", relative to now.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let days = (t.date_naive() - now.date_naive()).num_days();
    let time = t.format("%H:%M UTC");
    match days {
        0 => format!("{time} today"),
        1 => format!("{time} tomorrow"),
        -1 => format!("{time} yesterday"),
        _ => t.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

export!(Plugin);
