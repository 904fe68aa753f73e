//! A plugin check: its config rendered, its component looked up, its run in
//! the sandbox turned into a probe's verdict.

use futures::FutureExt;
use serde_json::Value;

use super::{PluginHost, PluginRequest, PluginStatus};
use crate::plan::PluginSpec;
use crate::probe::{self, Cx, ErrorKind, ProbeFuture, Probed, Problem, Verdict};

/// Renders a plugin check's config and starts it in the sandbox. The
/// component was compiled at plan time ([`crate::probe::load_plugins`]); here it is a
/// lookup in the host's cache.
pub(crate) fn start<'a>(
    cx: &mut Cx<'a, '_>,
    spec: &'a PluginSpec,
) -> Result<ProbeFuture<'a>, String> {
    let (plan, check, services, render) = (cx.plan, cx.check, cx.services, cx.render);
    let host = plugin_host()?;
    let plugin = host.load(&spec.wasm).map_err(|e| e.to_string())?;
    let config = render_strings(&spec.config, render)?;
    let env = spec
        .allow_env
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
        .collect();
    let mut req = PluginRequest::new(check.id.clone(), config, services.plugin_http.clone());
    req.env = env;
    req.timeout = check.timeout;
    req.memory_bytes = spec.memory_bytes;
    req.allow_http = spec.allow_http.clone();
    req.allow_github = spec.allow_github.clone();
    req.body_cap = plan.settings.body_cap;
    req.redactor = services.redactor.clone();
    req.github = services.github.clone();
    Ok(async move {
        let outcome = host.run(&plugin, req).await;
        let mut probed = match outcome.result {
            Err(reason) => Probed::error(ErrorKind::Plugin, reason, outcome.duration),
            Ok(out) => {
                // The plugin's summary is its reason: a warn says nothing more.
                let verdict = match out.status {
                    PluginStatus::Pass => Verdict::Pass,
                    PluginStatus::Warn => Verdict::Warn(None),
                    PluginStatus::Fail => {
                        Verdict::Fail(Problem::new(ErrorKind::Condition, out.summary.clone()))
                    }
                    PluginStatus::Unknown => Verdict::Error(Problem::new(
                        ErrorKind::Plugin,
                        format!("plugin could not tell: {}", out.summary),
                    )),
                };
                Probed {
                    observation: probe::Observation {
                        value: Value::Object(out.fields.clone()),
                        body_is_json: true,
                        duration: outcome.duration,
                        ..probe::Observation::default()
                    },
                    summary: out.summary,
                    fields: out.fields,
                    verdict,
                    log: Vec::new(),
                }
            }
        };
        probed.log = outcome.log;
        probed
    }
    .boxed())
}

/// Renders every string in a plugin's config that holds a template.
fn render_strings(
    v: &Value,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(render(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_strings(x, render))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), render_strings(x, render)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Overrides where compiled plugins are cached; empty or `off` turns the
/// disk cache off. Tests point it at a temporary directory.
pub const CACHE_DIR_ENV: &str = "VILLA_PLUGIN_CACHE_DIR";

/// Where compiled plugins are cached: `$VILLA_PLUGIN_CACHE_DIR`, else
/// `plugins/` in the user's cache directory (next to the GitHub disk
/// cache); None when turned off or there is no home directory.
pub fn plugin_cache_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(v.into()),
        None => crate::paths::cache_dir().map(|d| d.join("plugins")),
    }
}

/// The process's one plugin host (engine, epoch thread, compiled
/// components, the disk cache); it says when it compiles if stderr is a terminal.
pub fn plugin_host() -> Result<&'static PluginHost, String> {
    use std::io::IsTerminal;
    static HOST: std::sync::OnceLock<Result<PluginHost, String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        PluginHost::with_cache_dir(plugin_cache_dir())
            .map(|h| h.with_progress(std::io::stderr().is_terminal()))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}
