//! ciliumon: turn on Cilium and Hubble metrics in one verified step.
//!
//! The model is pure (catalogue → specs → config → values → plan) and renders to shell, YAML and
//! JSON; the effects (running steps, asking questions, reading the cluster, probing ports) are thin
//! layers at the edge.

pub mod catalogue;
pub mod check;
pub mod cli;
pub mod commands;
pub mod duration;
pub mod exit;
pub mod plan;
pub mod spec;
pub mod ui;
pub mod version;
