//! One attempt, whoever starts it: refusals are audited; a confirmed request
//! is audited as `sending` (a failed write stops it), sent, and audited with
//! its outcome.

use std::path::PathBuf;

use chrono::Utc;

use super::Origin;
use super::audit::{self, AuditEntry, AuditOutcome, Who};
use super::resolve::{Prepared, Refusal, RefusalKind};
use super::rollback::DeploymentRef;
use super::send::{self, Answer};

/// Where attempts are recorded and who makes them.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// The audit log.
    pub audit_path: PathBuf,
    /// CLI or dashboard.
    pub origin: Origin,
    /// Who runs this process.
    pub who: Who,
}

/// The result of a confirmed attempt.
#[derive(Debug)]
pub struct Executed {
    /// The answer, or why none came (secrets masked).
    pub answer: Result<Answer, String>,
    /// The outcome line could not be written (the request was sent).
    pub audit_error: Option<audit::AuditError>,
}

impl Executed {
    /// What became of it.
    pub fn outcome(&self) -> AuditOutcome {
        match &self.answer {
            Ok(a) if a.ok() => AuditOutcome::Succeeded,
            Ok(_) => AuditOutcome::Failed,
            Err(_) => AuditOutcome::Error,
        }
    }
}

impl Recorder {
    fn entry(
        &self,
        attempt: &str,
        action: &str,
        env: Option<&str>,
        deployment: Option<DeploymentRef>,
        request: Option<String>,
        outcome: AuditOutcome,
    ) -> AuditEntry {
        AuditEntry {
            time: Utc::now(),
            attempt: attempt.to_owned(),
            action: action.to_owned(),
            environment: env.map(str::to_owned),
            deployment,
            who: self.who.clone(),
            from: self.origin,
            request,
            status: None,
            outcome,
            detail: None,
        }
    }

    /// Records a refusal. If that write fails the refusal says so too.
    pub fn refuse(
        &self,
        action: &str,
        env: Option<&str>,
        request: Option<&Prepared>,
        refusal: Refusal,
    ) -> Refusal {
        let mut e = self.entry(
            &audit::attempt_id(),
            action,
            env,
            refusal
                .deployment
                .clone()
                .or_else(|| request.and_then(Prepared::deployment_ref)),
            request.map(Prepared::summary),
            AuditOutcome::Refused,
        );
        let detail = match request {
            Some(p) => p.redactor.redact(&refusal.message).into_owned(),
            None => refusal.message.clone(),
        };
        e.detail = Some(detail);
        match audit::append(&self.audit_path, &e) {
            Ok(()) => refusal,
            Err(err) => Refusal {
                message: format!("{}; and {err}", refusal.message),
                ..refusal
            },
        }
    }

    /// Sends `p` between two audit lines. `Err`: the first line could not be
    /// written, so nothing was sent.
    pub async fn execute(&self, p: &Prepared) -> Result<Executed, String> {
        let attempt = audit::attempt_id();
        let start = self.entry(
            &attempt,
            &p.action,
            p.env.as_deref(),
            p.deployment_ref(),
            Some(p.summary()),
            AuditOutcome::Sending,
        );
        audit::append(&self.audit_path, &start)
            .map_err(|e| format!("{e}; the action was not sent"))?;
        let answer = send::send(p).await;
        let mut done = start;
        done.time = Utc::now();
        let executed = Executed {
            answer,
            audit_error: None,
        };
        done.outcome = executed.outcome();
        match &executed.answer {
            Ok(a) => {
                done.status = Some(a.status);
                done.detail = (!a.body.is_empty()).then(|| a.body.clone());
            }
            Err(e) => done.detail = Some(e.clone()),
        }
        let audit_error = audit::append(&self.audit_path, &done).err();
        Ok(Executed {
            audit_error,
            ..executed
        })
    }
}

/// Checks the typed word against the one the action asks for.
pub fn confirm(p: &Prepared, typed: &str) -> Result<(), Refusal> {
    if typed.trim() == p.confirm_word {
        Ok(())
    } else {
        Err(Refusal::new(
            RefusalKind::Forbidden,
            format!(
                "confirmation word does not match: type `{}` to run `{}`",
                p.confirm_word, p.action
            ),
        ))
    }
}
