//! Look-alike services for `demo`, tests and benches: they serve real recorded
//! responses so nothing external is needed to see the tool work.

pub mod clone;
pub mod github;
pub mod world;
