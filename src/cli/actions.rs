//! `villa-telemetry act`, `actions` and `audit`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{Exit, Failure, InternalError, load_plan, run_with, runtime};
use crate::action::Origin;
use crate::action::attempt::{self, Recorder};
use crate::action::audit::{self, AuditOutcome};
use crate::action::resolve::{self, Refusal};
use crate::action::rollback;
use crate::config::DEFAULT_CONFIG;
use crate::plan::Plan;
use crate::report::Report;
use crate::runner::Services;

/// `act ID [--env ENV] [--deployment ID] [--dry-run] [--yes]`.
#[derive(Debug, clap::Args)]
pub struct ActArgs {
    /// The action's id.
    pub id: String,
    /// Environment of a per-environment action.
    #[arg(long = "env", value_name = "ENV")]
    pub env: Option<String>,
    /// The deployment a rollback (`target = "deployment"`) goes back to: its
    /// id from the history, or its sha (7 characters or more).
    #[arg(long, alias = "sha", value_name = "ID|SHA")]
    pub deployment: Option<String>,
    /// Print the exact request (secrets masked) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for the confirmation word (for scripts; still audited).
    #[arg(long)]
    pub yes: bool,
    /// Config file.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// `actions`: what is declared and what is enabled now.
#[derive(Debug, clap::Args)]
pub struct ActionsArgs {
    /// Config file.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// `audit [--limit N]`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// How many recent attempts to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Config file (for `[act] audit`); without one the default place is read.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

fn github_token() -> Option<String> {
    crate::probe::github::GithubClient::resolve_token().map(|(t, _)| t)
}

/// Runs one action; exit 0 on a 2xx answer, 2 on any other answer or none,
/// 3 when refused, 4 when the audit log cannot be written.
pub fn act(args: ActArgs) -> Result<Exit, Failure> {
    let plan = load_plan(&args.config)?;
    let recorder = Recorder {
        audit_path: audit::locate(plan.actions.audit_path.as_deref())
            .map_err(InternalError::Audit)?,
        origin: Origin::Cli,
        who: audit::who(&plan.base_dir),
    };
    let env = args.env.as_deref();
    let refused = |r: Refusal, p: Option<&resolve::Prepared>| -> Result<Exit, Failure> {
        let r = if args.dry_run {
            r
        } else {
            recorder.refuse(&args.id, env, p, r)
        };
        eprintln!("villa-telemetry act {}: refused: {}", args.id, r.message);
        Ok(Exit::Config)
    };
    let action = match resolve::instance(&plan.actions, &args.id, env) {
        Ok(a) => a,
        Err(r) => return refused(r, None),
    };
    let rt = runtime()?;
    let report = rt.block_on(async { run_with(&plan, &Services::new(&plan)).await });
    let prepared = match resolve::prepare(
        action,
        env,
        args.deployment.as_deref(),
        &report,
        &plan.settings.github_api_url,
        github_token,
    ) {
        Ok(p) => p,
        Err(r) => return refused(r, None),
    };
    if args.dry_run {
        print_dry_run(&prepared);
        return Ok(Exit::Healthy);
    }
    if !args.yes
        && let Err(r) = confirm_on_terminal(&prepared)
    {
        return refused(r, Some(&prepared));
    }
    let executed = rt
        .block_on(recorder.execute(&prepared))
        .map_err(InternalError::Reported)?;
    if let Some(e) = &executed.audit_error {
        eprintln!(
            "villa-telemetry act {}: warning: the request was sent, but {e}",
            args.id
        );
    }
    Ok(print_answer(&args.id, &prepared, &executed.answer))
}

/// What `act --dry-run` prints: the exact request, secrets masked.
fn print_dry_run(prepared: &resolve::Prepared) {
    println!("# dry run: nothing is sent; secrets are masked");
    if let (Some(d), Some(e)) = (&prepared.deployment, &prepared.env) {
        println!(
            "# rolls {e} back to deployment {} (sha {}, ref {}, {} {})",
            d.id, d.sha, d.git_ref, d.state, d.created_at
        );
    }
    print!("{}", prepared.display());
    println!(
        "# confirm word: {}  ·  timeout: {}",
        prepared.confirm_word,
        humantime::format_duration(prepared.timeout)
    );
}

/// Shows the request and asks for its confirm word on the terminal; a
/// refusal when there is no terminal or the word is wrong.
fn confirm_on_terminal(prepared: &resolve::Prepared) -> Result<(), Refusal> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        return Err(Refusal::new(
            resolve::RefusalKind::Forbidden,
            "no terminal to confirm on: pass --yes to run without asking",
        ));
    }
    eprint!(
        "{}\nType `{}` to send this request: ",
        prepared.display().trim_end(),
        prepared.confirm_word
    );
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    if std::io::stdin().read_line(&mut typed).is_err() {
        typed.clear();
    }
    attempt::confirm(prepared, &typed)
}
/// Prints the upstream's answer (or why there was none) and says which exit
/// it means.
fn print_answer(
    id: &str,
    prepared: &resolve::Prepared,
    answer: &Result<crate::action::send::Answer, String>,
) -> Exit {
    match answer {
        Ok(a) => {
            let to = prepared
                .deployment
                .as_ref()
                .map(|d| format!(" → deployment {} ({})", d.id, d.sha))
                .unwrap_or_default();
            println!(
                "{} {}{to}: {} {}",
                prepared.action,
                prepared.env.as_deref().unwrap_or(""),
                a.status,
                if a.ok() { "ok" } else { "failed" }
            );
            if !a.body.is_empty() {
                println!("{}", a.body);
            }
            if a.ok() { Exit::Healthy } else { Exit::Failing }
        }
        Err(e) => {
            eprintln!("villa-telemetry act {id}: {e}");
            Exit::Failing
        }
    }
}

/// One line per action instance: whether it is enabled now, and why not.
pub fn actions(args: ActionsArgs) -> Result<Exit, Failure> {
    let plan = load_plan(&args.config)?;
    if plan.actions.list.is_empty() {
        println!(
            "no actions declared (add [[actions]] to {})",
            args.config.display()
        );
        return Ok(Exit::Healthy);
    }
    let report = runtime()?.block_on(async { run_with(&plan, &Services::new(&plan)).await });
    let token = std::sync::OnceLock::new();
    for line in status_lines(&plan, &report, || token.get_or_init(github_token).clone()) {
        println!("{line}");
    }
    if !plan.actions.dashboard {
        println!("(dashboard buttons are off; `[serve] actions = true` turns them on)");
    }
    Ok(Exit::Healthy)
}

fn status_lines(plan: &Plan, report: &Report, token: impl Fn() -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for action in &plan.actions.list {
        for env in action.instances() {
            let label = match env {
                Some(e) => format!("{} --env {e}", action.id),
                None => action.id.clone(),
            };
            if action.rollback() {
                rollback_lines(&mut out, plan, report, action, env, &label, &token);
                continue;
            }
            let state = state(plan, report, action, env, None, &token);
            out.push(format!("{label:<28} {:<24} {state}", action.name));
        }
    }
    out
}

/// A rollback's lines for one environment: one per deployment it can go
/// back to, or why there is none.
fn rollback_lines(
    out: &mut Vec<String>,
    plan: &Plan,
    report: &Report,
    action: &crate::plan::ActionPlan,
    env: Option<&str>,
    label: &str,
    token: &impl Fn() -> Option<String>,
) {
    let Some(e) = env else { return };
    match rollback::targets(report, e) {
        Err(why) => out.push(format!("{label:<28} {:<24} disabled  {why}", action.name)),
        Ok(targets) => {
            for d in targets {
                let id = d.id.to_string();
                let state = state(plan, report, action, env, Some(&id), token);
                let label = format!("{label} --deployment {id}");
                out.push(format!(
                    "{label:<28} {:<24} {state}  [{}]",
                    action.name,
                    rollback::label(d)
                ));
            }
        }
    }
}

fn state(
    plan: &Plan,
    report: &Report,
    action: &crate::plan::ActionPlan,
    env: Option<&str>,
    deployment: Option<&str>,
    token: &impl Fn() -> Option<String>,
) -> String {
    match resolve::prepare(
        action,
        env,
        deployment,
        report,
        &plan.settings.github_api_url,
        token,
    ) {
        Ok(p) => format!(
            "enabled   {} {}  (confirm: {})",
            p.method,
            p.redactor.redact(&p.url),
            p.confirm_word
        ),
        Err(r) => format!("disabled  {}", r.message),
    }
}

/// Prints the last attempts, oldest first.
pub fn audit(args: AuditArgs) -> Result<Exit, Failure> {
    let configured = if args.config.exists() {
        load_plan(&args.config)?.actions.audit_path
    } else {
        None
    };
    let path = audit::locate(configured.as_deref()).map_err(InternalError::Audit)?;
    print_audit(&path, args.limit)
}

fn print_audit(path: &Path, limit: usize) -> Result<Exit, Failure> {
    let (entries, bad) = audit::recent(path, limit).map_err(InternalError::Audit)?;
    if entries.is_empty() {
        println!("no actions recorded yet in {}", path.display());
    }
    for e in &entries {
        let who = match (&e.who.email, &e.who.user) {
            (Some(m), Some(u)) => format!("{m} ({u})"),
            (Some(m), None) => m.clone(),
            (None, Some(u)) => u.clone(),
            (None, None) => "unknown".into(),
        };
        let mut target = match &e.environment {
            Some(env) => format!("{} --env {env}", e.action),
            None => e.action.clone(),
        };
        if let Some(d) = &e.deployment {
            target.push_str(&format!(" --deployment {} ({})", d.id, d.sha));
        }
        let outcome = match e.outcome {
            AuditOutcome::Refused => "refused",
            AuditOutcome::Sending => "sending (no outcome recorded)",
            AuditOutcome::Succeeded => "succeeded",
            AuditOutcome::Failed => "failed",
            AuditOutcome::Error => "error",
        };
        let status = e.status.map(|s| format!(" {s}")).unwrap_or_default();
        let from = match e.from {
            Origin::Cli => "cli",
            Origin::Dashboard => "dashboard",
            Origin::Agent => "agent",
        };
        println!(
            "{}  {from:<9}  {who}  {target}  {outcome}{status}",
            e.time.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if let Some(r) = &e.request {
            println!("    {r}");
        }
        if let Some(d) = &e.detail {
            println!("    → {}", d.replace('\n', " "));
        }
    }
    if bad > 0 {
        eprintln!("({bad} line(s) of {} could not be read)", path.display());
    }
    Ok(Exit::Healthy)
}
