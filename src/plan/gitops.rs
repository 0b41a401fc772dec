//! Who owns the Cilium install, and what ciliumon offers when it is not Helm alone: pure.
//!
//! Flux's helm-controller labels every object of a `HelmRelease` with
//! `helm.toolkit.fluxcd.io/name` and `helm.toolkit.fluxcd.io/namespace` (the HelmRelease's own
//! name and namespace; API `helm.toolkit.fluxcd.io/v2`, `v2beta2` before Flux 2.3) and keeps a
//! real Helm release. Argo CD renders the chart with `helm template` and applies it, so there is
//! usually no Helm release; it tracks its objects with the annotation
//! `argocd.argoproj.io/tracking-id` (`APP:GROUP/KIND:NAMESPACE/NAME`, the default from Argo CD
//! 2.x on) or the label `app.kubernetes.io/instance` (the older default). A manual
//! `helm upgrade` of either is reverted at the controller's next sync, or fought over; the
//! values belong in Git, in the `HelmRelease`'s `spec.values` or the `Application`'s
//! `spec.source.helm.valuesObject`.

use serde::Serialize;
use serde_json::{Value, json};

use super::Plan;
use crate::catalogue::objects;
use crate::exit::Failure;
use crate::version::Version;

pub const FLUX_NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
pub const FLUX_NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";
pub const FLUX_API_VERSION: &str = "helm.toolkit.fluxcd.io/v2";
pub const ARGO_TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
pub const ARGO_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const ARGO_API_VERSION: &str = "argoproj.io/v1alpha1";
/// Helm (3.2+) annotates every object of a release with its name.
pub const HELM_RELEASE_ANNOTATION: &str = "meta.helm.sh/release-name";

/// Who changes the Cilium install, when it is not ciliumon's `helm upgrade`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "owner")]
pub enum Owner {
    /// A Flux `HelmRelease` (its name and namespace).
    Flux { name: String, namespace: String },
    /// An Argo CD `Application` (its name).
    ArgoCd { application: String },
    /// No Helm release: plain manifests, or a tool that does not keep one.
    Manifests,
}

impl Owner {
    /// "Flux (HelmRelease flux-system/cilium)".
    pub fn describe(&self) -> String {
        match self {
            Owner::Flux { name, namespace } => format!("Flux (HelmRelease {namespace}/{name})"),
            Owner::ArgoCd { application } => format!("Argo CD (Application {application})"),
            Owner::Manifests => "plain manifests, without a Helm release".into(),
        }
    }

    /// The `plan --output` that fits this owner.
    pub fn output(&self) -> &'static str {
        match self {
            Owner::Flux { .. } => "flux",
            Owner::ArgoCd { .. } => "argocd",
            Owner::Manifests => "values",
        }
    }
}

fn text<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The owner, from the labels and annotations of the agent DaemonSet (JSON maps, null when
/// none) and whether Helm lists a release for it. `None`: Helm's alone.
pub fn detect(labels: &Value, annotations: &Value, helm_release: bool) -> Option<Owner> {
    if let Some(name) = text(labels, FLUX_NAME_LABEL) {
        return Some(Owner::Flux {
            name: name.to_string(),
            namespace: text(labels, FLUX_NAMESPACE_LABEL)
                .unwrap_or("flux-system")
                .to_string(),
        });
    }
    if let Some(id) = text(annotations, ARGO_TRACKING_ANNOTATION) {
        let app = id.split(':').next().unwrap_or(id);
        return Some(Owner::ArgoCd {
            application: app.to_string(),
        });
    }
    // Charts set `app.kubernetes.io/instance` too; it is Argo CD's only where Helm did not
    // install the object.
    if !helm_release
        && text(annotations, HELM_RELEASE_ANNOTATION).is_none()
        && let Some(app) = text(labels, ARGO_INSTANCE_LABEL)
    {
        return Some(Owner::ArgoCd {
            application: app.to_string(),
        });
    }
    (!helm_release).then_some(Owner::Manifests)
}

/// Why ciliumon does not run its `helm upgrade` here (exit 3), and what fits instead.
/// `without_release`: Helm lists no release for it, and the agents' image runs this version
/// (when it could be read), so the plan is made offline for it.
pub fn refusal(
    owner: &Owner,
    release: &str,
    namespace: &str,
    without_release: Option<Option<&Version>>,
) -> Failure {
    let plan = |output: &str| match without_release {
        None => format!("`ciliumon plan --output {output}`"),
        Some(v) => format!(
            "`ciliumon plan --dry-run --cilium-version {} --output {output}`",
            v.map(|v| v.to_string()).unwrap_or_else(|| "VERSION".into())
        ),
    };
    let values = format!(
        "{} prints them as one values file to commit",
        plan("values")
    );
    match owner {
        Owner::Flux { .. } | Owner::ArgoCd { .. } => {
            let (controller, place) = match owner {
                Owner::Flux { .. } => ("helm-controller", "the HelmRelease's spec.values"),
                _ => ("Argo CD", "the Application's spec.source.helm.valuesObject"),
            };
            let force = if without_release.is_none() {
                "; or pass --force-helm to run the helm upgrade anyway"
            } else {
                ""
            };
            Failure::preflight(format!(
                "the Cilium {} in '{namespace}' is managed by {}: a helm upgrade by ciliumon would be reverted by {controller} at its next sync, or fought over; nothing was changed",
                if without_release.is_none() { format!("release '{release}'") } else { format!("DaemonSet {}", objects::AGENT_DAEMONSET) },
                owner.describe()
            ))
            .hint(format!(
                "put the values in {place} and commit them: {} prints that snippet, {values}{force}",
                plan(owner.output())
            ))
        }
        Owner::Manifests => Failure::preflight(format!(
            "Cilium runs in '{namespace}' without a Helm release (the DaemonSet {} exists, `helm list` has no release '{release}'): it was installed from plain manifests or by a tool that keeps no Helm release, and ciliumon changes Cilium only through helm upgrade; nothing was changed",
            objects::AGENT_DAEMONSET
        ))
        .hint(format!(
            "{values}; render your manifests with them (helm template {} {}/{} --version VERSION -f values.yaml), or name the release with --release if Helm installed it under another name",
            objects::RELEASE,
            objects::REPO_NAME,
            objects::CHART
        )),
    }
}

/// The warning `--force-helm` prints before it upgrades a release a controller owns.
pub fn force_warning(owner: &Owner) -> String {
    format!(
        "warning: --force-helm: upgrading a release managed by {} with helm; its controller may revert these values at its next sync unless they are also committed where it reads them (`ciliumon plan --output {}`)",
        owner.describe(),
        owner.output()
    )
}

/// The comment header of the GitOps outputs: what the values enable and why.
fn header(plan: &Plan, what: &str) -> String {
    let mut lines = vec![
        format!(
            "{what}: Cilium and Hubble metrics for Cilium {v} (chart {c} {v}), by ciliumon.",
            v = plan.cilium_version,
            c = objects::CHART
        ),
        format!(
            "These are the keys ciliumon sets on release '{}' in '{}'; merge them over your own values (keep yours for everything else).",
            plan.cilium_release, plan.cilium_namespace
        ),
        format!("They enable: {}.", enabled(&plan.cilium_values)),
        "Why:".into(),
    ];
    // The notes about the values; not those about how `helm upgrade` keeps values, the stack's
    // install or the restart, which are not in these files.
    const NOT_ABOUT_VALUES: [&str; 9] = [
        "No restart of the agents",
        "Nothing to change",
        "--reuse-values",
        "--reset-then-reuse-values",
        "Helm older than",
        "Grafana admin password",
        "kube-prometheus-stack:",
        "Restart of the agents",
        "No explicit restart",
    ];
    lines.extend(
        plan.notes
            .iter()
            .filter(|n| !NOT_ABOUT_VALUES.iter().any(|p| n.starts_with(p)))
            .map(|n| format!("  - {n}")),
    );
    if plan
        .steps
        .iter()
        .any(|s| s.kind == super::StepKind::StackInstall)
    {
        lines.push("kube-prometheus-stack is not in here: install it before these values are applied (its ServiceMonitor CRD must exist first); `ciliumon plan` shows the command.".into());
    }
    lines.push(format!(
        "After your controller applies them: the agents read the Hubble metric list only at start-up. When the agents' pod template did not change (only hubble.metrics.enabled did), restart them: kubectl rollout restart {} -n {}",
        objects::agent_daemonset_ref(),
        plan.cilium_namespace
    ));
    let mut s = String::new();
    for l in lines {
        s.push_str(&format!("# {l}\n"));
    }
    s
}

/// What the values turn on, by name, for the header.
fn enabled(v: &Value) -> String {
    let on = |path: &[&str]| {
        let mut x = v;
        for k in path {
            x = &x[*k];
        }
        x.as_bool() == Some(true) || x.as_array().is_some_and(|a| !a.is_empty())
    };
    let parts = [
        (on(&["prometheus", "enabled"]), "agent metrics"),
        (
            on(&["operator", "prometheus", "enabled"]),
            "operator metrics",
        ),
        (on(&["hubble", "metrics", "enabled"]), "Hubble metrics"),
        (on(&["hubble", "relay", "enabled"]), "Hubble Relay"),
        (on(&["hubble", "ui", "enabled"]), "the Hubble UI"),
        (
            on(&["hubble", "export", "static", "enabled"])
                || on(&["hubble", "export", "fileMaxSizeMb"]),
            "flow export to a file on each node",
        ),
        (
            on(&["prometheus", "serviceMonitor", "enabled"]),
            "ServiceMonitors",
        ),
        (on(&["dashboards", "enabled"]), "Grafana dashboards"),
    ];
    let names: Vec<&str> = parts.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
    if names.is_empty() {
        "nothing new".into()
    } else {
        names.join(", ")
    }
}

fn yaml(v: &Value) -> anyhow::Result<String> {
    crate::yaml::to_string(v)
}

/// `plan --output values`: one values file to commit, with a comment header.
pub fn values_file(plan: &Plan) -> anyhow::Result<String> {
    Ok(header(plan, "Helm values") + &yaml(&plan.cilium_values)?)
}

/// `plan --output flux`: the `HelmRelease` carrying the same values in `spec.values`.
pub fn flux_snippet(plan: &Plan, name: &str, namespace: &str) -> anyhow::Result<String> {
    let doc = json!({
        "apiVersion": FLUX_API_VERSION,
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"values": plan.cilium_values},
    });
    Ok(header(
        plan,
        &format!(
            "HelmRelease {namespace}/{name}: merge spec.values into yours ({FLUX_API_VERSION}; v2beta2 before Flux 2.3)"
        ),
    ) + &yaml(&doc)?)
}

/// `plan --output argocd`: the `Application` carrying the same values in
/// `spec.source.helm.valuesObject`.
pub fn argo_snippet(plan: &Plan, application: &str) -> anyhow::Result<String> {
    let doc = json!({
        "apiVersion": ARGO_API_VERSION,
        "kind": "Application",
        "metadata": {"name": application, "namespace": "argocd"},
        "spec": {"source": {"helm": {"valuesObject": plan.cilium_values}}},
    });
    Ok(header(
        plan,
        &format!(
            "Application {application}: merge spec.source.helm.valuesObject into yours (Argo CD 2.6+; with `spec.sources`, into the Cilium chart's source)"
        ),
    ) + &yaml(&doc)?)
}

/// The snippet for `owner` (the values file for plain manifests).
pub fn snippet(plan: &Plan, owner: &Owner) -> anyhow::Result<String> {
    match owner {
        Owner::Flux { name, namespace } => flux_snippet(plan, name, namespace),
        Owner::ArgoCd { application } => argo_snippet(plan, application),
        Owner::Manifests => values_file(plan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_from_labels_and_annotations() {
        let none = Value::Null;
        let flux = json!({FLUX_NAME_LABEL: "cilium", FLUX_NAMESPACE_LABEL: "infra"});
        assert_eq!(
            detect(&flux, &none, true),
            Some(Owner::Flux {
                name: "cilium".into(),
                namespace: "infra".into()
            })
        );
        let argo = json!({ARGO_TRACKING_ANNOTATION: "cilium:apps/DaemonSet:kube-system/cilium"});
        assert_eq!(
            detect(&none, &argo, false),
            Some(Owner::ArgoCd {
                application: "cilium".into()
            })
        );
        let instance = json!({ARGO_INSTANCE_LABEL: "net"});
        assert_eq!(
            detect(&instance, &none, false),
            Some(Owner::ArgoCd {
                application: "net".into()
            })
        );
        // A chart's own instance label on a Helm release is Helm's.
        assert_eq!(detect(&instance, &none, true), None);
        let helm = json!({HELM_RELEASE_ANNOTATION: "cilium"});
        assert_eq!(detect(&instance, &helm, false), Some(Owner::Manifests));
        assert_eq!(detect(&none, &none, false), Some(Owner::Manifests));
        assert_eq!(detect(&json!({"k8s-app": "cilium"}), &helm, true), None);
    }

    #[test]
    fn refusals_name_the_owner_and_the_output() {
        let f = refusal(
            &Owner::Flux {
                name: "cilium".into(),
                namespace: "flux-system".into(),
            },
            "cilium",
            "kube-system",
            None,
        );
        assert_eq!(f.code, crate::exit::Code::Preflight);
        assert!(
            f.message.contains("Flux (HelmRelease flux-system/cilium)"),
            "{}",
            f.message
        );
        let h = f.hint.unwrap();
        assert!(
            h.contains("--output flux") && h.contains("--force-helm") && h.contains("spec.values"),
            "{h}"
        );
        let v = Version::new(1, 17, 3);
        let f = refusal(&Owner::Manifests, "cilium", "kube-system", Some(Some(&v)));
        assert!(f.message.contains("without a Helm release"));
        let h = f.hint.unwrap();
        assert!(!h.contains("--force-helm"), "{h}");
        assert!(
            h.contains("ciliumon plan --dry-run --cilium-version 1.17.3 --output values"),
            "{h}"
        );
    }
}
