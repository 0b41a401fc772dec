//! Integration tests through the binary, compiled as one test binary.

mod fake_prom;
#[path = "../harness/mod.rs"]
mod harness;
mod support;

mod bad_input;
use harness::recorder;

mod check;
mod fixtures;
mod helm;
mod metrics;
mod plan;
mod prometheus;
mod setup;
mod smoke;
