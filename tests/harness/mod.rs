//! The test harness shared by the integration tests (`tests/it`) and the benchmark
//! (`benches/check.rs`), each including it with `#[path]`: the recording stand-ins for helm
//! and kubectl, the fake nodes (loopback HTTP servers serving metrics payloads), the fake
//! Kubernetes API server (with its pod proxy to the fake nodes, and its service proxy to a
//! fake Prometheus), the fake Prometheus API (`prom`) and the payloads.
#![allow(dead_code)]

pub mod api;
pub mod fixtures;
pub mod http;
pub mod nodes;
pub mod prom;
pub mod recorder;

// The stand-in scripts for helm and kubectl with state and injected failures (`setup`'s
// tests) are in tests/harness/stand-ins; `recorder` writes the simplest ones, which only
// record.
