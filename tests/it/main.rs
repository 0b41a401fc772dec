//! Integration tests through the binary, compiled as one test binary.

mod recorder;
mod support;

mod bad_input;
mod check;
mod helm;
mod metrics;
mod plan;
mod setup;
mod smoke;
mod to_the_end;
