//! Which kubeconfig and context a command works on, and how helm and kubectl are told: the one
//! place that spells those flags (helm says `--kube-context`, kubectl `--context`; both say
//! `--kubeconfig`). `cluster`, `kubectl` and `plan` all use it.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::cli::GlobalArgs;

/// Which kubeconfig and context to use; passed to every helm and kubectl call.
#[derive(Debug, Clone, Default)]
pub struct Kube {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
}

/// The tool the flags are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Helm,
    Kubectl,
}

impl Tool {
    fn context_flag(self) -> &'static str {
        match self {
            Tool::Helm => "--kube-context",
            Tool::Kubectl => "--context",
        }
    }
}

impl Kube {
    pub fn from_global(global: &GlobalArgs) -> Kube {
        Kube {
            context: global.kube_context.clone(),
            kubeconfig: global.kubeconfig.clone(),
        }
    }

    /// The flags for `tool`, as (flag, value) pairs: the context, then the kubeconfig, each
    /// when given.
    pub fn flags(&self, tool: Tool) -> Vec<(&'static str, &OsStr)> {
        let mut v = Vec::new();
        if let Some(c) = &self.context {
            v.push((tool.context_flag(), OsStr::new(c.as_str())));
        }
        if let Some(k) = &self.kubeconfig {
            v.push(("--kubeconfig", k.as_os_str()));
        }
        v
    }

    /// The flags as argv words.
    pub fn os_args(&self, tool: Tool) -> Vec<OsString> {
        self.flags(tool)
            .into_iter()
            .flat_map(|(f, v)| [OsString::from(f), v.to_os_string()])
            .collect()
    }

    /// The flags as text, for a plan (a kubeconfig path that is not UTF-8 is shown lossily).
    pub fn args(&self, tool: Tool) -> Vec<String> {
        self.flags(tool)
            .into_iter()
            .flat_map(|(f, v)| [f.to_string(), v.to_string_lossy().into_owned()])
            .collect()
    }

    /// Whether there is any kubeconfig to read, as kubectl looks for one: `--kubeconfig`, else
    /// the files in `kubeconfig_env` (KUBECONFIG, `:`-separated), else `~/.kube/config` under
    /// `home`. Without one, `plan` plans offline; with one, a cluster it cannot read is an error.
    pub fn has_kubeconfig(
        &self,
        kubeconfig_env: Option<&OsStr>,
        home: Option<&std::path::Path>,
    ) -> bool {
        if self.kubeconfig.is_some() {
            return true;
        }
        if let Some(list) = kubeconfig_env.filter(|v| !v.is_empty()) {
            return std::env::split_paths(list).any(|p| p.is_file());
        }
        home.is_some_and(|h| h.join(".kube").join("config").is_file())
    }

    pub fn helm_flags(&self) -> Vec<String> {
        self.args(Tool::Helm)
    }

    pub fn kubectl_flags(&self) -> Vec<String> {
        self.args(Tool::Kubectl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_gets_its_own_context_flag() {
        let k = Kube {
            context: Some("prod east".into()),
            kubeconfig: Some("/tmp/kc".into()),
        };
        assert_eq!(
            k.helm_flags(),
            ["--kube-context", "prod east", "--kubeconfig", "/tmp/kc"]
        );
        assert_eq!(
            k.kubectl_flags(),
            ["--context", "prod east", "--kubeconfig", "/tmp/kc"]
        );
        assert!(Kube::default().helm_flags().is_empty());
    }

    #[test]
    fn a_kubeconfig_is_found_where_kubectl_looks() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let none = Kube::default();
        assert!(!none.has_kubeconfig(None, Some(home)));
        assert!(!none.has_kubeconfig(None, None));
        let cfg = home.join("kc");
        std::fs::write(&cfg, "").unwrap();
        let env = std::env::join_paths([home.join("missing"), cfg.clone()]).unwrap();
        assert!(none.has_kubeconfig(Some(&env), Some(home)));
        assert!(!none.has_kubeconfig(Some(OsStr::new("/nonexistent/kc")), Some(home)));
        std::fs::create_dir(home.join(".kube")).unwrap();
        std::fs::write(home.join(".kube/config"), "").unwrap();
        assert!(none.has_kubeconfig(None, Some(home)));
        // An explicit --kubeconfig is used as given (kubectl reports a missing one itself).
        let explicit = Kube {
            context: None,
            kubeconfig: Some("/nonexistent".into()),
        };
        assert!(explicit.has_kubeconfig(None, None));
    }
}
