//! Builds a `github` check's request from its spec: templates rendered,
//! `compare`'s `BASE...HEAD` split.

use futures::FutureExt;

use super::check::{Request, observe};
use crate::plan::GithubKind;
use crate::probe::{Cx, ProbeFuture};

/// Renders the check's templates and starts its GitHub request.
pub(crate) fn start<'a>(
    cx: &mut Cx<'a, '_>,
    repo: &'a str,
    kind: &GithubKind,
) -> Result<ProbeFuture<'a>, String> {
    let client = cx
        .github
        .ok_or("no GitHub client was set up for this run")?;
    let request = match kind {
        GithubKind::Workflow {
            workflow,
            branch,
            stalled_after,
        } => Request::Workflow {
            workflow: workflow.clone(),
            branch: branch.clone(),
            stalled_after: *stalled_after,
            name: cx.check.name.clone(),
        },
        GithubKind::Deployment { environment } => Request::Deployment {
            environment: (cx.render)(environment)?,
        },
        GithubKind::Compare { basehead } => {
            let rendered = (cx.render)(basehead)?;
            let (base, head) = rendered
                .split_once("...")
                .ok_or_else(|| format!("`compare` rendered to `{rendered}`, not BASE...HEAD"))?;
            if base.trim().is_empty() || head.trim().is_empty() {
                return Err(format!(
                    "`compare` rendered to `{rendered}`: a side is empty"
                ));
            }
            Request::Compare {
                base: base.trim().to_owned(),
                head: head.trim().to_owned(),
            }
        }
    };
    Ok(observe(client, repo, request).boxed())
}
