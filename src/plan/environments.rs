//! `[[environments]]`: ids, names, URLs and what each one tracks.

use std::collections::HashMap;

use super::builder::{Builder, quote};
use super::templates::{SecretsIn, misplaced_secret};
use super::{EnvPlan, valid_id};

/// The environments in configured order, with a lookup by id.
pub(super) struct Environments {
    /// In configured order.
    pub(super) list: Vec<EnvPlan>,
    /// Id to index into `list`.
    pub(super) index: HashMap<String, usize>,
    /// Ids in configured order, for suggestions.
    pub(super) ids: Vec<String>,
}

/// Validates every `[[environments]]` table.
pub(super) fn environments(b: &mut Builder<'_>) -> Environments {
    let config = b.config;
    let mut list = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for env in &config.environments {
        let id = env.value.id.get_ref().clone();
        if !valid_id(&id) {
            b.error(
                env.file,
                env.value.id.span(),
                format!("invalid environment id `{}`", quote(&id)),
            );
            b.help("use letters, digits, `_` and `-`");
        }
        if index.contains_key(&id) {
            b.error(
                env.file,
                env.value.id.span(),
                format!("duplicate environment id `{}`", quote(&id)),
            );
            b.help("every [[environments]] needs its own id");
            continue;
        }
        if let Some(url) = &env.value.url {
            misplaced_secret(b, env.file, url.get_ref(), url.span(), SecretsIn::Check);
        }
        index.insert(id.clone(), list.len());
        list.push(EnvPlan {
            name: env.value.name.clone().unwrap_or_else(|| id.clone()),
            url: env
                .value
                .url
                .as_ref()
                .map(|u| u.get_ref().trim_end_matches('/').to_owned()),
            optional: env.value.optional,
            tracks: env.value.tracks.as_ref().map(|t| t.get_ref().clone()),
            id,
        });
    }
    let ids: Vec<String> = list.iter().map(|e| e.id.clone()).collect();
    for env in &config.environments {
        if let Some(t) = &env.value.tracks {
            let tracked = t.get_ref();
            if !index.contains_key(tracked) {
                b.error(
                    env.file,
                    t.span(),
                    format!("`tracks` names unknown environment `{}`", quote(tracked)),
                );
                b.suggest(tracked, ids.iter().map(String::as_str));
            } else if tracked == env.value.id.get_ref() {
                b.error(env.file, t.span(), "an environment cannot track itself");
            }
        }
    }
    Environments { list, index, ids }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config_from;
    use super::*;

    #[test]
    fn keeps_order_and_defaults_the_name() {
        let config = config_from(
            "[[environments]]\nid = \"b\"\nurl = \"http://b/\"\n[[environments]]\nid = \"a\"\nname = \"A\"\ntracks = \"b\"\n",
        );
        let mut b = Builder::new(&config);
        let envs = environments(&mut b);
        assert!(b.problems.is_empty());
        assert_eq!(envs.ids, ["b", "a"]);
        assert_eq!(envs.list[0].name, "b");
        assert_eq!(envs.list[0].url.as_deref(), Some("http://b"));
        assert_eq!(envs.list[1].tracks.as_deref(), Some("b"));
        assert_eq!(envs.index["a"], 1);
    }

    #[test]
    fn a_secret_in_a_url_is_refused() {
        let config = config_from("[[environments]]\nid = \"a\"\nurl = \"https://x/?k=${KEY}\"\n");
        let mut b = Builder::new(&config);
        environments(&mut b);
        let d = &b.problems.shown()[0];
        assert!(d.message().contains("`${KEY}`"), "{}", d.message());
        assert_eq!(d.location(), "villa-telemetry.toml:3:7");
    }

    #[test]
    fn reports_duplicates_bad_ids_and_tracking() {
        let config = config_from(
            "[[environments]]\nid = \"a\"\ntracks = \"a\"\n[[environments]]\nid = \"a\"\n[[environments]]\nid = \"b c\"\ntracks = \"x\"\n",
        );
        let mut b = Builder::new(&config);
        environments(&mut b);
        let messages: Vec<&str> = b.problems.shown().iter().map(|d| d.message()).collect();
        assert_eq!(
            messages,
            [
                "duplicate environment id `a`",
                "invalid environment id `b c`",
                "an environment cannot track itself",
                "`tracks` names unknown environment `x`",
            ]
        );
    }
}
