//! The dashboard's action buttons for one report: where each goes, whether
//! it can run now, and why not.

use indexmap::IndexMap;
use serde::Serialize;

use super::resolve;
use crate::plan::{Button, Plan};
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
}

/// One button.
#[derive(Debug, Clone, Serialize)]
pub struct ButtonView {
    /// Action id.
    pub id: String,
    /// Environment of a per-environment action.
    pub env: Option<String>,
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
    for id in report.environments.keys() {
        view.env.insert(id.clone(), Vec::new());
        view.comparison.insert(id.clone(), Vec::new());
    }
    for action in &plan.actions.list {
        for env in action.instances() {
            let prepared = resolve::prepare(
                action,
                env,
                report,
                &plan.settings.github_api_url,
                &github_token,
            );
            let button = ButtonView {
                id: action.id.clone(),
                env: env.map(str::to_owned),
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
            };
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

fn push(map: &mut IndexMap<String, Vec<ButtonView>>, env: &str, b: ButtonView) {
    map.entry(env.to_owned()).or_default().push(b);
}
