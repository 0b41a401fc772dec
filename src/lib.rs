//! ciliumon: turn on Cilium and Hubble metrics in one verified step.
//!
//! The model is pure (catalogue → specs → config → values → plan) and renders to shell, YAML and
//! JSON; the effects (running steps, asking questions, reading the cluster, probing ports) are thin
//! layers at the edge.

pub mod catalogue;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod diff;
pub mod duration;
pub mod dynamic;
pub mod escape;
pub mod estimate;
pub mod exit;
pub mod helm_set;
pub mod kube;
pub mod kubectl;
pub mod names;
pub mod next_steps;
pub mod plan;
#[cfg(test)]
mod proptests;
pub mod render;
pub mod run;
pub mod secret;
pub mod spec;
pub mod ui;
pub mod values;
pub mod version;
pub mod wizard;
pub mod yaml;
