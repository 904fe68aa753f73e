//! The git probe runs no program a repository configures: a real repository
//! whose fsmonitor, hooks, pager and clean filter all point at a script that
//! writes a marker file; `run` (and the report's git look-ups) must leave no
//! marker, while plain `git status` there does (so the trap is real).

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support::{GitRepo, Project, check};

/// A repository whose own config runs `trap.sh` from every hook point that
/// `git status`, `git log` and `git merge-base` could reach.
fn trapped_repo(marker: &Path) -> GitRepo {
    let repo = GitRepo::new();
    std::fs::write(repo.path().join(".gitattributes"), "*.txt filter=trap\n").unwrap();
    repo.commit("first");
    let script = repo.path().join(".git/trap.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$0 $*\" >> '{}'\ncat\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hooks = repo.path().join(".git/trap-hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    for hook in [
        "post-index-change",
        "reference-transaction",
        "post-checkout",
    ] {
        std::fs::copy(&script, hooks.join(hook)).unwrap();
    }
    let s = script.display().to_string();
    for (key, value) in [
        ("core.fsmonitor", s.as_str()),
        ("core.hooksPath", &hooks.display().to_string()),
        ("core.pager", s.as_str()),
        ("filter.trap.clean", s.as_str()),
        ("filter.trap.smudge", s.as_str()),
        ("diff.external", s.as_str()),
    ] {
        repo.git(&["config", key, value]);
    }
    repo
}

/// Changes a tracked file's content and stat data, so `git status` must
/// look at it (through the clean filter) and would refresh the index.
fn touch_tracked(repo: &GitRepo) {
    let file = std::fs::read_dir(repo.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "txt"))
        .expect("a tracked .txt file");
    std::fs::write(&file, "changed content\n").unwrap();
}

#[test]
fn git_checks_run_no_program_the_repository_configures() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let repo = trapped_repo(&marker);
    touch_tracked(&repo);

    // The trap is real: a plain `git status` springs it.
    let plain = Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["status", "--porcelain"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(plain.status.success());
    assert!(
        marker.exists(),
        "plain `git status` should have run the repository's programs"
    );
    std::fs::remove_file(&marker).unwrap();

    let p = Project::new(&format!(
        "[[checks]]\nid = \"repo\"\ngit = {{ path = \"{}\" }}\nexpect = [\"$.uncommitted_changes >= 1\"]\n",
        repo.path().display()
    ));
    let mut cmd = p.command();
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["run", "--format", "json"]);
    let out = support::execute(cmd);
    let r = out.json();
    let c = check(&r, "repo", None);
    assert_eq!(c["status"], "pass", "{c:#}");
    assert!(
        c["fields"]["uncommitted_changes"].as_u64() >= Some(1),
        "the changed file is seen: {c:#}"
    );
    assert!(
        !marker.exists(),
        "the git probe ran a repository-configured program:\n{}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
}
