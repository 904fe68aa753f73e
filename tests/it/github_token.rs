//! Token resolution order. It changes environment variables, which is
//! only sound while no other thread runs: it runs alone in a child process.

use villa_telemetry::probe::github::{GithubClient, TokenSource};

#[test]
fn github_token_then_gh_token_blank_ignored() {
    if !crate::support::isolated("github_token::github_token_then_gh_token_blank_ignored") {
        return;
    }
    // SAFETY: alone in its own process (support::isolated), so no other
    // thread reads the environment.
    unsafe {
        std::env::set_var("GITHUB_TOKEN", "  ");
        std::env::set_var("GH_TOKEN", "gho_second");
    }
    assert_eq!(
        GithubClient::resolve_token(),
        Some(("gho_second".to_string(), TokenSource::Env("GH_TOKEN")))
    );
    unsafe { std::env::set_var("GITHUB_TOKEN", "ghp_first\n") };
    assert_eq!(
        GithubClient::resolve_token(),
        Some(("ghp_first".to_string(), TokenSource::Env("GITHUB_TOKEN")))
    );
}
