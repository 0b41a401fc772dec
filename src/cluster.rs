//! Reading the cluster, read-only: what the plan needs to know (installed Cilium version, Helm
//! version, current values, an existing kube-prometheus-stack).

use anyhow::{Result, bail};

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::plan::Target;

/// Read what the plan needs from the cluster, with a one-line description of where it came from.
pub fn read_target(_global: &GlobalArgs, _config: &Config) -> Result<(Target, String)> {
    bail!("reading the cluster is not available yet")
}
