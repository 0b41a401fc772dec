//! Integration tests through the binary, compiled as one test binary.

#[path = "../harness/mod.rs"]
mod harness;
mod support;

mod bad_input;
use harness::prom as fake_prom;
use harness::recorder;

mod check;
mod fixtures;
mod helm;
mod metrics;
mod plan;
mod prometheus;
mod safety;
mod setup;
mod smoke;
mod to_the_end;
