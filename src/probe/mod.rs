//! Probes: the code that performs checks.

#[cfg(feature = "plugins")]
pub mod plugin;
