//! Integration tests through the binary, compiled as one test binary.

mod fake_prom;
mod recorder;
mod support;

mod check;
mod helm;
mod metrics;
mod plan;
mod prometheus;
mod setup;
mod smoke;
