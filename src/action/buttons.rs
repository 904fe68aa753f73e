//! The dashboard's action buttons for one report: where each goes, whether
//! it can run now, and why not.

use indexmap::IndexMap;
use serde::Serialize;

use super::{resolve, rollback};
use crate::outcome::DeploymentEntry;
use crate::plan::{ActionPlan, Button, Plan};
use crate::report::Report;

/// What the dashboard needs to draw the buttons.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionsView {
    /// The page's CSRF token.
    pub token: String,
    /// Buttons for each environment card, by environment id.
    pub env: IndexMap<String, Vec<ButtonView>>,
    /// Buttons beside the comparison of each environment that tracks another.
    pub comparison: IndexMap<String, Vec<ButtonView>>,
    /// Buttons in the links panel.
    pub links: Vec<ButtonView>,
    /// Rollback buttons by environment id, one list per entry of its
    /// deployment history and in the same order (the page looks them up by
    /// the entry's index); empty for an entry that cannot be rolled back to.
    pub deployments: IndexMap<String, Vec<Vec<ButtonView>>>,
}

/// One button.
#[derive(Debug, Clone, Serialize)]
pub struct ButtonView {
    /// Action id.
    pub id: String,
    /// Environment of a per-environment action.
    pub env: Option<String>,
    /// The deployment id a rollback goes back to.
    pub deployment: Option<u64>,
    /// That deployment's commit, shortened.
    pub sha: Option<String>,
    /// Button text.
    pub name: String,
    /// The word the dialog asks for.
    pub confirm: String,
    /// Whether it can run on the shown report.
    pub enabled: bool,
    /// Why not, when disabled.
    pub why_not: Option<String>,
    /// Method and URL, secrets masked.
    pub request: String,
}

/// Buttons for `report`, each enabled or with the reason it is not;
/// `csrf_token` is the page's, `github_token` is asked for only by a
/// workflow dispatch.
pub fn view(
    plan: &Plan,
    report: &Report,
    csrf_token: &str,
    github_token: impl Fn() -> Option<String>,
) -> ActionsView {
    let mut view = ActionsView {
        token: csrf_token.to_owned(),
        ..ActionsView::default()
    };
    for (id, e) in &report.environments {
        view.env.insert(id.clone(), Vec::new());
        view.comparison.insert(id.clone(), Vec::new());
        view.deployments
            .insert(id.clone(), vec![Vec::new(); e.deployments.len()]);
    }
    for action in &plan.actions.list {
        if action.rollback() {
            rollback_buttons(&mut view, plan, action, report, &github_token);
            continue;
        }
        for env in action.instances() {
            let button = button(plan, action, env, None, report, &github_token);
            match (action.button, env) {
                (Button::Environment, Some(e)) => push(&mut view.env, e, button),
                (Button::Comparison, Some(e)) => push(&mut view.comparison, e, button),
                (Button::Comparison, None) => {
                    for list in view.comparison.values_mut() {
                        list.push(button.clone());
                    }
                }
                _ => view.links.push(button),
            }
        }
    }
    view
}

/// A rollback's buttons: one beside each deployment it can go back to.
fn rollback_buttons(
    view: &mut ActionsView,
    plan: &Plan,
    action: &ActionPlan,
    report: &Report,
    github_token: &impl Fn() -> Option<String>,
) {
    for env in &action.environments {
        let (Some(list), Some(slots)) = (
            report.environments.get(env).map(|e| &e.deployments),
            view.deployments.get_mut(env),
        ) else {
            continue;
        };
        for (i, d) in list.iter().enumerate() {
            if rollback::why_not(list, i).is_none() {
                let b = button(plan, action, Some(env), Some(d), report, github_token);
                slots[i].push(b);
            }
        }
    }
}

fn button(
    plan: &Plan,
    action: &ActionPlan,
    env: Option<&str>,
    deployment: Option<&DeploymentEntry>,
    report: &Report,
    github_token: &impl Fn() -> Option<String>,
) -> ButtonView {
    let id = deployment.map(|d| d.id.to_string());
    let prepared = resolve::prepare(
        action,
        env,
        id.as_deref(),
        report,
        &plan.settings.github_api_url,
        github_token,
    );
    ButtonView {
        id: action.id.clone(),
        env: env.map(str::to_owned),
        deployment: deployment.map(|d| d.id),
        sha: deployment.map(|d| d.sha.get(..7).unwrap_or(&d.sha).to_owned()),
        name: action.name.clone(),
        confirm: action.confirm_word(env),
        enabled: prepared.is_ok(),
        why_not: prepared.as_ref().err().map(|r| r.message.clone()),
        request: match &prepared {
            Ok(p) => p
                .redactor
                .redact(&format!("{} {}", p.method, p.url))
                .into_owned(),
            Err(_) => String::new(),
        },
    }
}

fn push(map: &mut IndexMap<String, Vec<ButtonView>>, env: &str, b: ButtonView) {
    map.entry(env.to_owned()).or_default().push(b);
}
