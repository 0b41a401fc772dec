//! The names ciliumon passes to helm and kubectl, each checked by its own rule before anything
//! runs, so that a bad one is a clear error here and not a surprise there.
//!
//! - A namespace is a DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters
//!   (Kubernetes `ValidateNamespaceName`, apimachinery `IsDNS1123Label`).
//! - A Helm release name matches `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
//!   and is at most 53 characters (helm/helm `pkg/chartutil/validate_name.go`,
//!   `ValidateReleaseName`: 63 minus room for the suffixes charts add).
//! - A kubeconfig context name is any string to kubectl, but an empty one makes helm and
//!   kubectl fall back to the current context silently, and no real one holds a line break or
//!   another control character (which would also make the printed plan misleading).

use crate::escape::escape;
use crate::exit::Failure;

pub const NAMESPACE_MAX: usize = 63;
pub const RELEASE_MAX: usize = 53;

/// One DNS-1123 label: lower-case letters, digits and `-`, starting and ending with a letter
/// or digit.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The reason `value` is not a namespace, or `None`.
pub fn namespace_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("a namespace cannot be empty".into());
    }
    if !is_label(value) || value.len() > NAMESPACE_MAX {
        return Some(format!(
            "'{}' is not a valid name for a namespace: lower-case letters, digits and '-', starting and ending with a letter or digit, at most {NAMESPACE_MAX} characters{}",
            escape(value),
            too_long(value, NAMESPACE_MAX)
        ));
    }
    None
}

/// The reason `value` is not a Helm release name, or `None`.
pub fn release_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("a Helm release name cannot be empty".into());
    }
    if !value.split('.').all(is_label) || value.len() > RELEASE_MAX {
        return Some(format!(
            "'{}' is not a valid name for a Helm release: lower-case letters, digits, '-' and '.', each '.'-separated part starting and ending with a letter or digit, at most {RELEASE_MAX} characters{}",
            escape(value),
            too_long(value, RELEASE_MAX)
        ));
    }
    None
}

/// The reason `key: value` is not a Kubernetes label, or `None` (apimachinery
/// `IsQualifiedName` for the key: an optional DNS-subdomain prefix and `/`, then up to 63 of
/// `[A-Za-z0-9._-]` starting and ending alphanumeric; `IsValidLabelValue` for the value, which
/// may be empty).
pub fn label_problem(key: &str, value: &str) -> Option<String> {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let key_ok = match key.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253 && prefix.split('.').all(is_label) && part(name)
        }
        None => part(key),
    };
    if !key_ok {
        return Some(format!(
            "'{}' is not a label key: letters, digits, '-', '_' and '.', at most 63, starting and ending with a letter or digit, with an optional DNS prefix and '/'",
            escape(key)
        ));
    }
    if !(value.is_empty() || part(value)) {
        return Some(format!(
            "'{}' is not a label value: letters, digits, '-', '_' and '.', at most 63, starting and ending with a letter or digit",
            escape(value)
        ));
    }
    None
}

/// The reason `value` is not a kubeconfig context name, or `None`.
pub fn context_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(
            "a context name cannot be empty (helm and kubectl would use the current context without saying so)"
                .into(),
        );
    }
    if value.chars().any(crate::escape::is_unsafe) {
        return Some(format!(
            "context name '{}' contains a control character; kubeconfig context names are one line of text",
            escape(value)
        ));
    }
    None
}

fn too_long(value: &str, max: usize) -> String {
    if value.len() > max {
        format!(" (this one has {})", value.len())
    } else {
        String::new()
    }
}

/// `what` (a flag or a field of the config file) with the problem, as bad input.
fn failure(what: &str, problem: Option<String>) -> Result<(), Failure> {
    match problem {
        None => Ok(()),
        Some(p) => Err(Failure::bad_input(format!("{what}: {p}"))),
    }
}

pub fn check_namespace(what: &str, value: &str) -> Result<(), Failure> {
    failure(what, namespace_problem(value))
}

pub fn check_release(what: &str, value: &str) -> Result<(), Failure> {
    failure(what, release_problem(value))
}

pub fn check_context(what: &str, value: &str) -> Result<(), Failure> {
    failure(what, context_problem(value))
}

/// clap value parsers: the flag is named by clap.
pub fn namespace(s: &str) -> Result<String, String> {
    namespace_problem(s).map_or(Ok(s.to_string()), Err)
}

pub fn release(s: &str) -> Result<String, String> {
    release_problem(s).map_or(Ok(s.to_string()), Err)
}

pub fn context(s: &str) -> Result<String, String> {
    context_problem(s).map_or(Ok(s.to_string()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_labels_of_63() {
        assert!(namespace_problem("kube-system").is_none());
        assert!(namespace_problem(&"n".repeat(63)).is_none());
        let e = namespace_problem(&"n".repeat(64)).unwrap();
        assert!(e.contains("at most 63") && e.contains("has 64"), "{e}");
        for bad in ["", "Kube", "a.b", "-a", "a-", "a_b", "kube system", "ä"] {
            assert!(namespace_problem(bad).is_some(), "{bad}");
        }
        assert!(namespace_problem("").unwrap().contains("empty"));
    }

    #[test]
    fn releases_follow_helm() {
        for ok in ["cilium", "a", "0", "my.release-1", &"r".repeat(53)] {
            assert!(release_problem(ok).is_none(), "{ok}");
        }
        for bad in [
            "",
            "Cilium",
            "a..b",
            ".a",
            "a.",
            "a-.b",
            "a_b",
            &"r".repeat(54),
        ] {
            assert!(release_problem(bad).is_some(), "{bad}");
        }
        assert!(
            release_problem(&"r".repeat(54))
                .unwrap()
                .contains("at most 53")
        );
    }

    #[test]
    fn contexts() {
        assert!(context_problem("kind-kind").is_none());
        assert!(context_problem("arn:aws:eks:eu-west-1:1:cluster/prod").is_none());
        assert!(context_problem("Prod Cluster (admin)").is_none());
        assert!(context_problem("").unwrap().contains("empty"));
        let e = context_problem("prod\nrm").unwrap();
        assert!(e.contains("prod\\nrm") && !e.contains('\n'), "{e}");
        assert!(context_problem("a\u{1b}[2J").is_some());
    }
}
