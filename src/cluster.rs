//! Preflight: what is installed and what the cluster runs, read-only, before anything is asked
//! or changed. Finds helm and kubectl (on a PATH given as a parameter), their versions, the
//! context that would be changed, the Cilium release (chart version, revision, user values) and
//! an existing kube-prometheus-stack.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::catalogue::objects;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::estimate::Inventory;
use crate::exit::Failure;
use crate::kubectl::Kubectl;
use crate::plan::gitops::{self, Owner};
use crate::plan::{Sizes, Target};
use crate::run::{self, CaptureError, Limits};
use crate::version::Version;

/// How long a read-only query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The tools, resolved to absolute paths once.
#[derive(Debug, Clone, Serialize)]
pub struct Tools {
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    /// `v3.17.2+gcc0bbbd`
    pub helm_version: String,
    /// (3, 17)
    pub helm_major_minor: (u32, u32),
    /// `v1.34.5`
    pub kubectl_version: String,
}

/// Which kubeconfig and context (`crate::kube`, re-exported for the commands that name it here).
pub use crate::kube::Kube;

/// The Cilium release as Helm knows it.
#[derive(Debug, Clone, Serialize)]
pub struct CiliumRelease {
    pub name: String,
    pub namespace: String,
    pub chart_version: Version,
    pub revision: u64,
    pub status: String,
    /// `helm get values -o json`: the user-supplied values only (`{}` when none).
    pub values: serde_json::Value,
}

impl CiliumRelease {
    /// The exact command that returns the release to where it was before setup.
    pub fn rollback_command(&self, kube: &Kube) -> String {
        let mut argv = vec![
            "helm".to_string(),
            "rollback".into(),
            self.name.clone(),
            self.revision.to_string(),
        ];
        argv.extend(["-n".into(), self.namespace.clone()]);
        argv.extend(kube.helm_flags());
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
    }
}

/// A kube-prometheus-stack release found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackRelease {
    pub name: String,
    pub namespace: String,
    pub chart: String,
}

/// What preflight found.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub tools: Tools,
    /// The context that will be changed.
    pub context: String,
    /// The cluster of that context in the kubeconfig, and its API server, when kubectl says.
    pub cluster: Option<String>,
    pub server: Option<String>,
    pub server_version: Option<String>,
    pub cilium: CiliumRelease,
    pub stack: Option<StackRelease>,
    /// Who else changes the release (Flux), when someone does.
    pub owner: Option<Owner>,
    /// What the agents run, and what the release renders now.
    pub agents: AgentState,
    /// The cluster's size for the series estimate (counted here, or the `--estimate-*` flags'),
    /// or why it could not be read.
    pub sizes: Sizes,
    /// Whether the `servicemonitors.monitoring.coreos.com` CRD exists; `None` when it could
    /// not be read.
    pub service_monitor_crd: Option<bool>,
}

/// What the agents run, read in preflight: the pods older than `cilium-config`'s last change,
/// and the release's current manifest (`helm get manifest`) or why it could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentState {
    pub stale: Vec<String>,
    #[serde(skip)]
    pub manifest: Option<Result<String, String>>,
}

pub(crate) fn install_hint(tool: &str) -> &'static str {
    match tool {
        "helm" => {
            "install Helm 3 or 4: https://helm.sh/docs/intro/install/ (e.g. `brew install helm`, or the get-helm-3 script)"
        }
        _ => {
            "install kubectl: https://kubernetes.io/docs/tasks/tools/ (e.g. `brew install kubectl`, or your distribution's package)"
        }
    }
}

/// Find `tool` on `path_var` (a PATH value), as `which` does.
pub fn find_tool(tool: &str, path_var: Option<&OsStr>, cwd: &Path) -> Result<PathBuf> {
    which::which_in(tool, path_var, cwd).map_err(|_| {
        Failure::preflight(format!(
            "{tool} was not found on PATH; ciliumon runs {tool} to read and change the cluster"
        ))
        .hint(install_hint(tool))
        .into()
    })
}

/// Run a read-only query; a failure is a preflight error carrying the tool's own message.
fn query(program: &Path, args: &[String], what: &str) -> Result<String> {
    run::capture(program, args, Limits::new(QUERY_TIMEOUT)).map_err(|e| preflight_error(e, what))
}

/// A kubectl query with the context and kubeconfig, as `query`.
fn query_kubectl(kubectl: &Kubectl, rest: &[&str], what: &str) -> Result<String> {
    kubectl
        .run(rest, Limits::new(QUERY_TIMEOUT))
        .map_err(|e| preflight_error(e, what))
}

/// A query that gave no answer: "`what` failed: why" (a preflight failure), or Ctrl-C.
fn preflight_error(e: CaptureError, what: &str) -> anyhow::Error {
    match e {
        CaptureError::Start { .. } => e.into(),
        CaptureError::Interrupted => Failure::new(
            crate::exit::Code::Interrupted,
            "interrupted during preflight; nothing was changed",
        )
        .into(),
        CaptureError::Failed(ref msg) if denied(msg).is_some() => {
            let d = denied(msg).unwrap_or_default();
            Failure::preflight(format!("{what} failed: {e}"))
                .hint(d.hint())
                .into()
        }
        CaptureError::TimedOut(_) | CaptureError::Failed(_) => {
            Failure::preflight(format!("{what} failed: {e}")).into()
        }
    }
}

/// The API server refused a query: 403 Forbidden (RBAC) or 401 Unauthorized (credentials).
/// The cluster answered, so this is not an unreachable cluster: never a reason to plan offline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Denied {
    /// `None` for 401 Unauthorized.
    pub forbidden: Option<Forbidden>,
}

/// What a 403 names: `secrets is forbidden: User "u" cannot list resource "secrets" in API
/// group "" in the namespace "kube-system"` (no namespace when cluster-wide).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forbidden {
    pub user: Option<String>,
    pub verb: Option<String>,
    pub resource: Option<String>,
    pub namespace: Option<String>,
}

/// Whether a tool's message is the API server refusing it (see [`Denied`]).
pub fn denied(msg: &str) -> Option<Denied> {
    if let Some(at) = msg.find(" is forbidden: ") {
        let rest = &msg[at..];
        let quoted = |after: &str| -> Option<String> {
            let i = rest.find(after)? + after.len();
            let tail = &rest[i..];
            let end = tail.find('"')?;
            Some(tail[..end].to_string())
        };
        let verb = rest
            .find("\" cannot ")
            .map(|i| &rest[i + "\" cannot ".len()..])
            .and_then(|t| t.split_whitespace().next())
            .map(str::to_string);
        return Some(Denied {
            forbidden: Some(Forbidden {
                user: quoted("User \"").or_else(|| quoted("ServiceAccount \"")),
                verb,
                resource: quoted("resource \""),
                namespace: quoted("in the namespace \""),
            }),
        });
    }
    let unauthorized = msg.contains("(Unauthorized)")
        || msg.contains("Unauthorized")
            && (msg.contains("must be logged in") || msg.contains("401"))
        || msg.contains("the server has asked for the client to provide credentials");
    unauthorized.then_some(Denied { forbidden: None })
}

impl Denied {
    /// What permission is missing, and for Secrets why ciliumon reads them (Helm's storage).
    pub fn hint(&self) -> String {
        let Some(f) = &self.forbidden else {
            return "the API server rejected the credentials (401 Unauthorized): the token or client certificate of this context is missing, expired or revoked; log in again (refresh the kubeconfig), then check `kubectl get nodes`".to_string();
        };
        let who = f
            .user
            .as_deref()
            .map(|u| format!(" for {}", crate::escape::escape(u)))
            .unwrap_or_default();
        let verb = f.verb.as_deref().unwrap_or("read");
        let resource = f.resource.as_deref().unwrap_or("the resource");
        let scope = match &f.namespace {
            Some(ns) => format!("in namespace '{}'", crate::escape::escape(ns)),
            None => "in all namespaces (a ClusterRole)".to_string(),
        };
        let permission = if resource == "secrets" {
            format!(
                "get and list on secrets {scope}: Helm keeps its releases in Secrets of the release's namespace, and ciliumon reads the release through helm (read-only)"
            )
        } else {
            format!("{verb} on {resource} {scope}")
        };
        format!(
            "the cluster answered but refused this read (403 Forbidden): grant{who} {permission}; `kubectl auth can-i {verb} {resource}{}` shows it",
            f.namespace
                .as_deref()
                .map(|ns| format!(" -n {}", crate::escape::escape(ns)))
                .unwrap_or_else(|| " -A".into())
        )
    }
}

/// Whether a preflight error is the API server refusing a read (see [`Denied`]).
pub fn is_denied(err: &anyhow::Error) -> bool {
    err.chain().any(|c| denied(&c.to_string()).is_some())
}

/// `helm version --short` → (`v3.17.2+gcc0bbbd`, (3, 17)).
pub fn parse_helm_version(out: &str) -> Result<(String, (u32, u32))> {
    let text = out.trim();
    let v: Version = text
        .split('+')
        .next()
        .unwrap_or(text)
        .parse()
        .with_context(|| format!("unexpected `helm version` output: {text}"))?;
    Ok((text.to_string(), (v.major, v.minor)))
}

/// `kubectl version --client -o json` → `v1.34.5`.
pub fn parse_kubectl_version(out: &str) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(out).context("unexpected `kubectl version` output")?;
    v["clientVersion"]["gitVersion"]
        .as_str()
        .map(str::to_string)
        .context("`kubectl version` did not report clientVersion.gitVersion")
}

/// One row of `helm list -o json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    pub status: String,
    pub chart: String,
}

/// `helm list -o json` (revision is a string in Helm 3, a number elsewhere).
pub fn parse_list(out: &str) -> Result<Vec<Listed>> {
    let text = out.trim();
    if text.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(text).context("unexpected `helm list -o json` output")?;
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    Ok(rows
        .iter()
        .map(|r| Listed {
            name: s(r, "name"),
            namespace: s(r, "namespace"),
            revision: r["revision"]
                .as_u64()
                .or_else(|| r["revision"].as_str().and_then(|x| x.parse().ok()))
                .unwrap_or(0),
            status: s(r, "status"),
            chart: s(r, "chart"),
        })
        .collect())
}

/// `helm history -o json` → (revision, status), as listed (revision is a number, or a string).
pub fn parse_history(out: &str) -> Result<Vec<(u64, String)>> {
    let text = out.trim();
    if text.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(text).context("unexpected `helm history -o json` output")?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let rev = r["revision"]
                .as_u64()
                .or_else(|| r["revision"].as_str().and_then(|x| x.parse().ok()))?;
            Some((rev, r["status"].as_str().unwrap_or_default().to_string()))
        })
        .collect())
}

/// The revision a locked release returns to: the newest `deployed` one (Helm leaves the last
/// good revision deployed while an upgrade is pending), else the newest `superseded` one.
pub fn last_deployed(history: &[(u64, String)]) -> Option<u64> {
    let newest = |status: &str| {
        history
            .iter()
            .filter(|(_, s)| s == status)
            .map(|(r, _)| *r)
            .max()
    };
    newest("deployed").or_else(|| newest("superseded"))
}

/// The hint for a locked release: the exact rollback, or (no revision ever deployed, or no
/// history read) where to look.
pub fn locked_hint(
    release: &str,
    namespace: &str,
    kube: &Kube,
    history: &[(u64, String)],
) -> String {
    let join = |argv: Vec<String>| {
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
    };
    let mut base: Vec<String> = vec![];
    match last_deployed(history) {
        Some(rev) => {
            base.extend([
                "helm".into(),
                "rollback".into(),
                release.into(),
                rev.to_string(),
            ]);
            base.extend(["-n".into(), namespace.into()]);
            base.extend(kube.helm_flags());
            format!(
                "wait for the operation to finish, or, if it was interrupted, roll back to the last deployed revision {rev}: {}",
                join(base)
            )
        }
        None => {
            base.extend(["helm".into(), "history".into(), release.into()]);
            base.extend(["-n".into(), namespace.into()]);
            base.extend(kube.helm_flags());
            format!(
                "wait for it; no deployed revision to roll back to was found: look at {}",
                join(base)
            )
        }
    }
}

/// The version in a chart field: `cilium-1.16.5` → 1.16.5 (chart names may contain dashes).
pub fn chart_version(chart: &str, name: &str) -> Option<Version> {
    chart.strip_prefix(name)?.strip_prefix('-')?.parse().ok()
}

/// A kube-prometheus-stack release in `helm list -A` output: the first one, by namespace/name.
pub fn find_stack(rows: &[Listed]) -> Option<StackRelease> {
    let mut found: Vec<_> = rows
        .iter()
        .filter(|r| {
            r.chart
                .strip_prefix("kube-prometheus-stack-")
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    found.first().map(|r| StackRelease {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        chart: r.chart.clone(),
    })
}

/// What preflight needs to know from the command line.
#[derive(Debug, Clone)]
pub struct Want<'a> {
    pub kube: &'a Kube,
    pub release: &'a str,
    pub namespace: &'a str,
}

/// Find the tools and their versions. A missing tool is an error with how to install it.
pub fn tools(path_var: Option<&OsStr>, cwd: &Path) -> Result<Tools> {
    let helm = find_tool("helm", path_var, cwd)?;
    let kubectl = find_tool("kubectl", path_var, cwd)?;
    let out = query(
        &helm,
        &["version".into(), "--short".into()],
        "`helm version --short`",
    )?;
    let (helm_version, helm_major_minor) = parse_helm_version(&out)?;
    if !(3..=4).contains(&helm_major_minor.0) {
        return Err(Failure::preflight(format!(
            "helm {helm_version} is not supported: ciliumon works with Helm 3 and Helm 4"
        ))
        .hint(install_hint("helm"))
        .into());
    }
    let out = query(
        &kubectl,
        &[
            "version".into(),
            "--client".into(),
            "-o".into(),
            "json".into(),
        ],
        "`kubectl version --client`",
    )?;
    let kubectl_version = parse_kubectl_version(&out)?;
    Ok(Tools {
        helm,
        kubectl,
        helm_version,
        helm_major_minor,
        kubectl_version,
    })
}

/// Everything setup needs to know before it asks or changes anything.
pub fn preflight(tools: Tools, want: &Want<'_>) -> Result<Preflight> {
    let kube = want.kube;
    let argv = |base: &[&str], flags: Vec<String>| -> Vec<String> {
        base.iter().map(|s| s.to_string()).chain(flags).collect()
    };
    let kubectl = Kubectl {
        bin: tools.kubectl.clone(),
        kube: kube.clone(),
    };

    // Which context will be changed.
    let context = match &kube.context {
        Some(c) => c.clone(),
        None => query_kubectl(&kubectl, &["config", "current-context"], "`kubectl config current-context`")
            .map_err(|e| {
                anyhow::Error::new(
                    Failure::preflight(format!("{e:#}")).hint("point KUBECONFIG or --kubeconfig at your cluster's kubeconfig, or name a context with --kube-context"),
                )
            })?
            .trim()
            .to_string(),
    };

    if let Some(named) = &kube.context {
        check_context(&kubectl, named)?;
    }

    // Reachable?
    let out = query_kubectl(&kubectl, &["version", "-o", "json", "--request-timeout=15s"], "kubectl")
        .map_err(|e| {
            if is_denied(&e) {
                // The server answered: its refusal, with the permission that is missing.
                return e;
            }
            let msg = format!("{e:#}");
            let msg = msg.strip_prefix("kubectl failed: ").unwrap_or(&msg);
            anyhow::Error::new(
                Failure::preflight(format!("cannot reach the cluster of context '{context}': {msg}"))
                    .hint("check the context (`kubectl config get-contexts`), the VPN or tunnel, and that `kubectl get nodes` works"),
            )
        })?;
    let server_version = serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| {
            v["serverVersion"]["gitVersion"]
                .as_str()
                .map(str::to_string)
        });

    // The Cilium release.
    let out = query(
        &tools.helm,
        &argv(
            &[
                "list",
                "-n",
                want.namespace,
                "-o",
                "json",
                "--deployed",
                "--failed",
                "--pending",
            ],
            kube.helm_flags(),
        ),
        "`helm list`",
    )?;
    let rows = parse_list(&out)?;
    let agent_ds = read_agent_daemonset(&kubectl, want.namespace)?;
    let Some(row) = rows.iter().find(|r| r.name == want.release) else {
        if let Some(ds) = &agent_ds {
            // Cilium runs, but not as this Helm release: Argo CD, or plain manifests.
            let owner =
                gitops::detect(&ds.labels, &ds.annotations, false).unwrap_or(Owner::Manifests);
            return Err(gitops::refusal(
                &owner,
                want.release,
                want.namespace,
                Some(ds.version.as_ref()),
            )
            .into());
        }
        let others: Vec<_> = rows
            .iter()
            .filter(|r| chart_version(&r.chart, objects::CHART).is_some())
            .map(|r| r.name.as_str())
            .collect();
        let hint = match others.as_slice() {
            [one] => format!("the Cilium chart is installed as release '{one}': pass --release {one}"),
            [] => "ciliumon configures an existing Cilium, it does not install a CNI: install Cilium first (https://docs.cilium.io/en/stable/installation/k8s-install-helm/), or name its namespace with --namespace".to_string(),
            many => format!("Cilium releases here: {}; pass --release NAME", many.join(", ")),
        };
        return Err(Failure::preflight(format!(
            "no Helm release '{}' in namespace '{}' of context '{context}'",
            want.release, want.namespace
        ))
        .hint(hint)
        .into());
    };
    if row.status.starts_with("pending") {
        // Read-only: which revision to return to. Without an answer the hint names history.
        let history = query(
            &tools.helm,
            &argv(
                &["history", &row.name, "-n", want.namespace, "-o", "json"],
                kube.helm_flags(),
            ),
            "`helm history`",
        )
        .ok()
        .and_then(|out| parse_history(&out).ok())
        .unwrap_or_default();
        return Err(Failure::preflight(format!(
            "the release '{}' is locked: its status is {} (another operation is in progress, or one was interrupted)",
            row.name, row.status
        ))
        .hint(locked_hint(&row.name, want.namespace, kube, &history))
        .into());
    }
    let chart_version = chart_version(&row.chart, objects::CHART).ok_or_else(|| {
        Failure::preflight(format!(
            "the release '{}' runs chart '{}', not the Cilium chart",
            row.name, row.chart
        ))
        .hint("name the Cilium release with --release")
    })?;
    let out = query(
        &tools.helm,
        &argv(
            &[
                "get",
                "values",
                &row.name,
                "-n",
                want.namespace,
                "-o",
                "json",
            ],
            kube.helm_flags(),
        ),
        "`helm get values`",
    )?;
    let mut values: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or(serde_json::Value::Null);
    if values.is_null() {
        values = serde_json::json!({});
    }
    anyhow::ensure!(
        values.is_object(),
        "`helm get values {} -o json` did not print an object",
        row.name
    );
    let cilium = CiliumRelease {
        name: row.name.clone(),
        namespace: want.namespace.to_string(),
        chart_version,
        revision: row.revision,
        status: row.status.clone(),
        values,
    };

    // An existing kube-prometheus-stack, anywhere.
    let out = query(
        &tools.helm,
        &argv(&["list", "-A", "-o", "json"], kube.helm_flags()),
        "`helm list -A`",
    )?;
    let stack = find_stack(&parse_list(&out)?);
    let sizes = match inventory(&kubectl) {
        Ok(inventory) => Sizes::Known {
            inventory,
            source: format!("counted in context {context}"),
        },
        Err(e) => Sizes::Unknown {
            reason: format!(
                "the cluster's size could not be read ({e:#}); give --estimate-nodes/-namespaces/-pods/-workloads"
            ),
        },
    };

    let owner = agent_ds
        .as_ref()
        .and_then(|ds| gitops::detect(&ds.labels, &ds.annotations, true));
    let manifest = query(
        &tools.helm,
        &argv(
            &["get", "manifest", &cilium.name, "-n", want.namespace],
            kube.helm_flags(),
        ),
        "`helm get manifest`",
    )
    .map_err(|e| format!("{e:#}"));
    let agents = AgentState {
        stale: stale_agents(&kubectl, want.namespace)?,
        manifest: Some(manifest),
    };
    let service_monitor_crd = crd_exists(&kubectl, SERVICE_MONITOR_CRD)?;
    let (cluster, server) = kubectl
        .run(
            &["config", "view", "--minify", "-o", "json"],
            Limits::new(QUERY_TIMEOUT),
        )
        .ok()
        .map(|out| parse_minified_config(&out))
        .unwrap_or_default();

    Ok(Preflight {
        tools,
        context,
        cluster,
        server,
        server_version,
        cilium,
        stack,
        owner,
        agents,
        service_monitor_crd,
        sizes,
    })
}

/// The CRD that Cilium's ServiceMonitors need.
pub const SERVICE_MONITOR_CRD: &str = "servicemonitors.monitoring.coreos.com";

/// A kubectl error that is the API server's 404.
fn not_found(e: &CaptureError) -> bool {
    matches!(e, CaptureError::Failed(m) if m.contains("NotFound") || m.contains("could not find the requested resource"))
}

/// `kubectl get --raw PATH` in preflight: `None` for a 404, a preflight failure otherwise.
fn get_optional(kubectl: &Kubectl, path: &str, what: &str) -> Result<Option<serde_json::Value>> {
    let timeout = format!("--request-timeout={}s", QUERY_TIMEOUT.as_secs());
    match kubectl.run(
        &["get", "--raw", path, &timeout],
        Limits::outside(QUERY_TIMEOUT),
    ) {
        Ok(out) => Ok(Some(serde_json::from_str(&out).with_context(|| {
            format!("reading {what}: `kubectl get --raw {path}` did not print JSON")
        })?)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(preflight_error(
            e,
            &format!("reading {what} (`kubectl get --raw {path}`)"),
        )),
    }
}

/// The agent DaemonSet's metadata and the Cilium version its image runs.
#[derive(Debug, Clone)]
struct AgentDaemonSet {
    labels: serde_json::Value,
    annotations: serde_json::Value,
    version: Option<Version>,
}

fn read_agent_daemonset(kubectl: &Kubectl, namespace: &str) -> Result<Option<AgentDaemonSet>> {
    let path = format!(
        "/apis/apps/v1/namespaces/{namespace}/daemonsets/{}",
        objects::AGENT_DAEMONSET
    );
    let what = format!(
        "the DaemonSet {} in '{namespace}'",
        objects::AGENT_DAEMONSET
    );
    Ok(
        get_optional(kubectl, &path, &what)?.map(|ds| AgentDaemonSet {
            labels: ds["metadata"]["labels"].clone(),
            annotations: ds["metadata"]["annotations"].clone(),
            version: ds["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .and_then(image_version),
        }),
    )
}

/// `quay.io/cilium/cilium:v1.18.4@sha256:...` → 1.18.4.
pub fn image_version(image: &str) -> Option<Version> {
    let image = image.split('@').next()?;
    let (_, tag) = image.rsplit_once(':')?;
    tag.parse().ok()
}

/// The agent pods that started before `cilium-config` last changed, by name.
fn stale_agents(kubectl: &Kubectl, namespace: &str) -> Result<Vec<String>> {
    use crate::check::cluster as cc;
    let pods = get_optional(
        kubectl,
        &format!(
            "/api/v1/namespaces/{namespace}/pods?labelSelector={}",
            objects::encoded(objects::AGENT_SELECTOR)
        ),
        "the agent pods",
    )?;
    let cm = get_optional(
        kubectl,
        &format!(
            "/api/v1/namespaces/{namespace}/configmaps/{}",
            objects::CONFIG_MAP
        ),
        "the ConfigMap cilium-config",
    )?;
    let (Some(pods), Some(cm)) = (pods, cm) else {
        return Ok(vec![]);
    };
    let pods = cc::parse_pods(&cc::typed(pods, "the agent pods")?);
    let changed = cc::parse_config(&cc::typed(cm, "the ConfigMap cilium-config")?).changed;
    Ok(stale_names(&pods, changed.as_deref()))
}

/// The pods started before `changed`.
pub fn stale_names(pods: &[crate::check::cluster::Pod], changed: Option<&str>) -> Vec<String> {
    let Some(changed) = changed else {
        return vec![];
    };
    pods.iter()
        .filter(|p| {
            p.start_time
                .as_deref()
                .is_some_and(|s| crate::check::cluster::started_before(s, changed).unwrap_or(false))
        })
        .map(|p| p.name.clone())
        .collect()
}

/// Whether a CRD exists; `None` when it could not be read (e.g. no permission).
fn crd_exists(kubectl: &Kubectl, name: &str) -> Result<Option<bool>> {
    let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    match get_optional(kubectl, &path, &format!("the CRD {name}")) {
        Ok(v) => Ok(Some(v.is_some())),
        Err(e) if crate::exit::classify(&e).0 == crate::exit::Code::Interrupted => Err(e),
        Err(_) => Ok(None),
    }
}

/// The contexts of the kubeconfig (`kubectl config get-contexts -o name`).
pub fn contexts(kubectl: &Kubectl) -> Result<Vec<String>> {
    let out = query_kubectl(
        kubectl,
        &["config", "get-contexts", "-o", "name"],
        "`kubectl config get-contexts`",
    )?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// A context named on the command line must exist: exit 3 with the ones that do.
fn check_context(kubectl: &Kubectl, named: &str) -> Result<()> {
    let known = contexts(kubectl)?;
    if known.iter().any(|c| c == named) {
        return Ok(());
    }
    Err(unknown_context(named, &known).into())
}

/// "context 'x' does not exist", with the contexts that do.
pub fn unknown_context(named: &str, known: &[String]) -> Failure {
    let shown = crate::escape::escape(named);
    let hint = if known.is_empty() {
        "the kubeconfig has no contexts: point KUBECONFIG or --kubeconfig at your cluster's kubeconfig".to_string()
    } else {
        format!(
            "contexts in the kubeconfig: {}; pass one with --kube-context",
            known.join(", ")
        )
    };
    Failure::preflight(format!(
        "the context '{shown}' given with --kube-context does not exist in the kubeconfig"
    ))
    .hint(hint)
}

impl Preflight {
    /// What the plan builder needs to know.
    pub fn target(&self) -> Target {
        Target {
            installed: Some(self.cilium.chart_version.clone()),
            helm: Some(self.tools.helm_major_minor),
            existing_stack: self
                .stack
                .as_ref()
                .map(|s| (s.name.clone(), s.namespace.clone())),
            current_values: Some(self.cilium.values.clone()),
            service_monitor_crd: self.service_monitor_crd,
            sizes: self.sizes.clone(),
        }
    }

    /// One line: where the facts came from.
    pub fn describe(&self) -> String {
        format!(
            "context {}: Cilium release '{}' in '{}', chart {}, revision {}",
            self.context,
            self.cilium.name,
            self.cilium.namespace,
            self.cilium.chart_version,
            self.cilium.revision
        )
    }
}

/// What the cluster says about the rollout of `plan`: whether the release already has its
/// values (and the stack it installs is there), which agents run an older configuration, and,
/// when an upgrade is needed, whether it changes the agents' pod template (the release's
/// manifest against `helm template` of the same chart with the merged values, written into the
/// private `dir`). Read-only.
pub fn observe(
    pf: &Preflight,
    config: &Config,
    plan: &crate::plan::Plan,
    kube: &Kube,
    dir: &Path,
) -> crate::plan::rollout::Observed {
    let merged = crate::diff::merge(&pf.cilium.values, &plan.cilium_values);
    let stack_ok = match config.prometheus_stack.mode {
        crate::config::StackMode::Install => pf.stack.is_some(),
        _ => true,
    };
    let values_applied = crate::diff::is_subset(&plan.cilium_values, &pf.cilium.values) && stack_ok;
    let comparison = (!values_applied).then(|| {
        let before = pf
            .agents
            .manifest
            .clone()
            .unwrap_or_else(|| Err("not read".into()))?;
        let after = render_upgrade(pf, config, plan, kube, &merged, dir)?;
        crate::plan::rollout::compare(&before, &after).map_err(|e| format!("{e:#}"))
    });
    crate::plan::rollout::Observed {
        values_applied,
        stale_agents: pf.agents.stale.clone(),
        comparison,
    }
}

/// `helm template` of the chart the upgrade installs, with the values the release will have,
/// for the cluster's Kubernetes version: the manifest the upgrade will apply.
fn render_upgrade(
    pf: &Preflight,
    config: &Config,
    plan: &crate::plan::Plan,
    kube: &Kube,
    merged: &serde_json::Value,
    dir: &Path,
) -> Result<String, String> {
    let path = dir.join("ciliumon-rendered-values.yaml");
    let text = crate::yaml::to_string(merged).map_err(|e| format!("{e:#}"))?;
    crate::run::files::write_private(&path, text.as_bytes(), crate::run::files::Existing::Replace)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut args: Vec<String> = [
        "template",
        &pf.cilium.name,
        &config.cilium.chart,
        "--repo",
        &config.cilium.repo.url,
        "--version",
        &plan.cilium_version.to_string(),
        "--namespace",
        &pf.cilium.namespace,
        "-f",
        &path.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(v) = &pf.server_version {
        args.extend(["--kube-version".into(), v.clone()]);
    }
    args.extend(kube.helm_flags());
    let out = query(&pf.tools.helm, &args, "`helm template` of the upgrade");
    let _ = std::fs::remove_file(&path);
    out.map_err(|e| format!("{e:#}"))
}

/// Items per page when counting objects: small enough for a 100k-pod list to stay a few MB at
/// a time, and only used when the API server does not report `remainingItemCount`.
pub const COUNT_PAGE: u64 = 500;
/// Pages at most per count (5M objects): the loop is bounded whatever the server answers.
const COUNT_PAGES: u64 = 10_000;

/// The cluster's size for the estimate: nodes, namespaces, pods, and workloads (Deployments,
/// StatefulSets, DaemonSets). Read-only list calls, counts only: the first page's items plus the
/// `remainingItemCount` the API server reports with `limit` (one call each, of one item), else
/// page on with `continue`, [`COUNT_PAGE`] at a time (an older server, or one that cannot say).
pub fn inventory(kubectl: &Kubectl) -> Result<Inventory> {
    let count = |path: &str| count_objects(|p| kubectl.get_raw(p), path);
    let workloads = [
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/statefulsets",
        "/apis/apps/v1/daemonsets",
    ]
    .iter()
    .map(|p| count(p))
    .sum::<Result<u64>>()?;
    Ok(Inventory {
        nodes: count("/api/v1/nodes")?,
        namespaces: count("/api/v1/namespaces")?,
        pods: count("/api/v1/pods")?,
        workloads,
    })
}

/// How many objects the list at `path` holds, reading it through `get` page by page (see
/// [`inventory`]). Pure but for `get`.
pub fn count_objects(
    mut get: impl FnMut(&str) -> Result<serde_json::Value>,
    path: &str,
) -> Result<u64> {
    let mut total = 0u64;
    let mut token: Option<String> = None;
    for _ in 0..COUNT_PAGES {
        let url = match &token {
            // One item first: with `remainingItemCount` that is the whole count, at no cost.
            None => format!("{path}?limit=1"),
            Some(t) => format!(
                "{path}?limit={COUNT_PAGE}&continue={}",
                crate::check::prometheus::encode(t)
            ),
        };
        // kubectl's own message stays out: it is not repeated into the plan.
        let page = get(&url).map_err(|_| anyhow::anyhow!("listing {path} failed"))?;
        let items = page["items"]
            .as_array()
            .with_context(|| format!("{path}: the answer has no items list"))?;
        total += items.len() as u64;
        let meta = &page["metadata"];
        if let Some(rest) = meta["remainingItemCount"].as_u64() {
            return Ok(total + rest);
        }
        match meta["continue"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(total),
        }
    }
    anyhow::bail!("{path}: more than {COUNT_PAGES} pages of {COUNT_PAGE}")
}

/// `kubectl config view --minify -o json` → (cluster name, API server URL).
pub fn parse_minified_config(out: &str) -> (Option<String>, Option<String>) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_default();
    let c = &v["clusters"][0];
    (
        c["name"].as_str().map(str::to_string),
        c["cluster"]["server"].as_str().map(str::to_string),
    )
}

/// The Prometheus objects (prometheus-operator) kubectl can read, with the labels their
/// `serviceMonitorSelector.matchLabels` asks for. Read-only; nothing when they cannot be read
/// (no CRD, no permission): the wizard then asks without a default from the cluster.
pub fn prometheuses(tools: &Tools, kube: &Kube) -> Vec<crate::wizard::PrometheusFound> {
    let kubectl = Kubectl {
        bin: tools.kubectl.clone(),
        kube: kube.clone(),
    };
    kubectl
        .run(
            &[
                "get",
                "prometheuses.monitoring.coreos.com",
                "-A",
                "-o",
                "json",
                "--request-timeout=15s",
            ],
            Limits::new(QUERY_TIMEOUT),
        )
        .map(|out| parse_prometheuses(&out))
        .unwrap_or_default()
}

/// The items of `kubectl get prometheuses -A -o json`.
pub fn parse_prometheuses(out: &str) -> Vec<crate::wizard::PrometheusFound> {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_default();
    let Some(items) = v["items"].as_array() else {
        return vec![];
    };
    items
        .iter()
        .map(|p| crate::wizard::PrometheusFound {
            name: p["metadata"]["name"].as_str().unwrap_or_default().into(),
            namespace: p["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .into(),
            match_labels: p["spec"]["serviceMonitorSelector"]["matchLabels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// The InternalIP (else ExternalIP) of the first node, for a NodePort address. Read-only;
/// `None` when it cannot be read.
pub fn node_address(tools: &Tools, kube: &Kube) -> Option<String> {
    let kubectl = Kubectl {
        bin: tools.kubectl.clone(),
        kube: kube.clone(),
    };
    let out = kubectl
        .run(
            &["get", "nodes", "-o", "json", "--request-timeout=15s"],
            Limits::new(QUERY_TIMEOUT),
        )
        .ok()?;
    parse_node_address(&out)
}

/// The first node's InternalIP, else its ExternalIP, in `kubectl get nodes -o json`.
pub fn parse_node_address(out: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(out).ok()?;
    let addresses = v["items"][0]["status"]["addresses"].as_array()?;
    ["InternalIP", "ExternalIP"].iter().find_map(|kind| {
        addresses
            .iter()
            .find(|a| a["type"] == *kind)
            .and_then(|a| a["address"].as_str())
            .map(str::to_string)
    })
}

/// Preflight against this process's PATH and working directory.
pub fn preflight_here(global: &GlobalArgs, config: &Config) -> Result<Preflight> {
    // A version given on the command line or in the file settles the metric specs now: bad
    // input is reported before any tool is started.
    // Without one, specs that parse for the newest release are checked for rules between
    // settings (exemplars without OpenMetrics); the cluster's version decides the rest.
    let v = crate::plan::target_version(config, &Target::default())?.facts;
    match config.metric_specs(&v) {
        Ok(specs) => {
            config.open_metrics(&specs)?;
        }
        Err(e) if config.cilium.version.is_some() => return Err(e.into()),
        Err(_) => {}
    }
    let path = std::env::var_os("PATH");
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let tools = tools(path.as_deref(), &cwd)?;
    let kube = Kube::from_global(global);
    preflight(
        tools,
        &Want {
            kube: &kube,
            release: &config.cilium.release,
            namespace: &config.cilium.namespace,
        },
    )
}

/// Read what the plan needs from the cluster, with a one-line description of where it came from.
pub fn read_target(global: &GlobalArgs, config: &Config) -> Result<(Target, String)> {
    let p = preflight_here(global, config)?;
    Ok((p.target(), p.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_remaining_item_count_or_pages() {
        use serde_json::json;
        // One call when the server reports what remains.
        let mut asked = Vec::new();
        let n = count_objects(
            |p| {
                asked.push(p.to_string());
                Ok(json!({"metadata": {"remainingItemCount": 99_999, "continue": "x"}, "items": [{}]}))
            },
            "/api/v1/pods",
        )
        .unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(asked, ["/api/v1/pods?limit=1"]);
        // Without it, page on with the (encoded) continue token.
        let mut asked = Vec::new();
        let n = count_objects(
            |p| {
                asked.push(p.to_string());
                Ok(if asked.len() == 1 {
                    json!({"metadata": {"continue": "a b"}, "items": [{}]})
                } else {
                    json!({"metadata": {}, "items": vec![json!({}); 7]})
                })
            },
            "/api/v1/nodes",
        )
        .unwrap();
        assert_eq!(n, 8);
        assert_eq!(asked[1], "/api/v1/nodes?limit=500&continue=a%20b");
        // A broken answer is an error naming the list.
        let e = count_objects(|_| Ok(json!({})), "/api/v1/namespaces").unwrap_err();
        assert!(format!("{e:#}").contains("/api/v1/namespaces"), "{e:#}");
    }

    #[test]
    fn helm_versions() {
        assert_eq!(parse_helm_version("v3.17.2+gcc0bbbd\n").unwrap().1, (3, 17));
        assert_eq!(parse_helm_version("v4.1.4+g05fa379").unwrap().1, (4, 1));
        assert!(parse_helm_version("garbage").is_err());
    }

    #[test]
    fn real_helm_versions_parse() {
        // The binaries scripts/install-tools.sh puts in .tools/ (both majors).
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools");
        for (bin, major) in [("helm3/helm", 3), ("helm4/helm", 4)] {
            let helm = root.join(bin);
            assert!(
                helm.exists(),
                "{} missing: run scripts/install-tools.sh",
                helm.display()
            );
            let out = query(&helm, &["version".into(), "--short".into()], "helm version").unwrap();
            assert_eq!(parse_helm_version(&out).unwrap().1.0, major);
        }
        let out = query(
            &root.join("helm4/kubectl"),
            &[
                "version".into(),
                "--client".into(),
                "-o".into(),
                "json".into(),
            ],
            "kubectl",
        )
        .unwrap();
        assert!(parse_kubectl_version(&out).unwrap().starts_with("v1."));
    }

    #[test]
    fn real_kubectl_unreachable_names_the_server() {
        let kubectl = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/helm4/kubectl");
        let dir = crate::run::PrivateDir::create().unwrap();
        let cfg = dir.path().join("kubeconfig");
        std::fs::write(
            &cfg,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: kind-test, context: {cluster: c, user: u}}]\ncurrent-context: kind-test\n",
        )
        .unwrap();
        let tools = Tools {
            helm: "/nonexistent/helm".into(),
            kubectl,
            helm_version: "v3.17.2".into(),
            helm_major_minor: (3, 17),
            kubectl_version: "v1.34.5".into(),
        };
        let kube = Kube {
            context: None,
            kubeconfig: Some(cfg),
        };
        let err = preflight(
            tools,
            &Want {
                kube: &kube,
                release: "cilium",
                namespace: "kube-system",
            },
        )
        .unwrap_err();
        let (code, hint) = crate::exit::classify(&err);
        assert_eq!(code, crate::exit::Code::Preflight);
        let msg = format!("{err:#}");
        assert!(msg.contains("context 'kind-test'"), "{msg}");
        assert!(msg.contains("127.0.0.1:1"), "kubectl's own message: {msg}");
        assert!(hint.unwrap().contains("kubectl get nodes"));
    }

    #[test]
    fn lists_and_charts() {
        let out = r#"[{"name":"cilium","namespace":"kube-system","revision":"3","updated":"x","status":"deployed","chart":"cilium-1.16.5","app_version":"1.16.5"},
                      {"name":"mon","namespace":"monitoring","revision":7,"status":"deployed","chart":"kube-prometheus-stack-88.5.3","app_version":"v0.93.1"}]"#;
        let rows = parse_list(out).unwrap();
        assert_eq!(rows[0].revision, 3);
        assert_eq!(rows[1].revision, 7);
        assert_eq!(
            chart_version(&rows[0].chart, "cilium"),
            Some(Version::new(1, 16, 5))
        );
        assert_eq!(chart_version("cilium-enterprise-1.16.5", "cilium"), None);
        assert_eq!(
            find_stack(&rows),
            Some(StackRelease {
                name: "mon".into(),
                namespace: "monitoring".into(),
                chart: "kube-prometheus-stack-88.5.3".into()
            })
        );
        assert_eq!(find_stack(&rows[..1]), None);
        assert!(parse_list("").unwrap().is_empty());
        assert!(parse_list("[]").unwrap().is_empty());
    }

    #[test]
    fn missing_tool_says_how_to_install() {
        let dir = crate::run::PrivateDir::create().unwrap();
        let err = find_tool("helm", Some(dir.path().as_os_str()), dir.path()).unwrap_err();
        let (code, hint) = crate::exit::classify(&err);
        assert_eq!(code, crate::exit::Code::Preflight);
        assert!(hint.unwrap().contains("helm.sh"));
    }

    #[test]
    fn denied_reads_name_the_missing_permission() {
        let msg = r#"Error: list: failed to list: secrets is forbidden: User "e2e-reader" cannot list resource "secrets" in API group "" in the namespace "kube-system""#;
        let d = denied(msg).unwrap();
        let f = d.forbidden.clone().unwrap();
        assert_eq!(f.user.as_deref(), Some("e2e-reader"));
        assert_eq!(f.verb.as_deref(), Some("list"));
        assert_eq!(f.resource.as_deref(), Some("secrets"));
        assert_eq!(f.namespace.as_deref(), Some("kube-system"));
        let h = d.hint();
        assert!(
            h.contains("get and list on secrets in namespace 'kube-system'"),
            "{h}"
        );
        assert!(h.contains("Helm keeps its releases in Secrets"), "{h}");
        assert!(
            h.contains("kubectl auth can-i list secrets -n kube-system"),
            "{h}"
        );
        // Cluster-wide (helm list -A).
        let msg = r#"secrets is forbidden: User "u" cannot list resource "secrets" in API group "" at the cluster scope"#;
        assert!(denied(msg).unwrap().hint().contains("in all namespaces"));
        // 401.
        let d = denied("error: You must be logged in to the server (Unauthorized)").unwrap();
        assert_eq!(d.forbidden, None);
        assert!(d.hint().contains("401 Unauthorized"));
        // Not a refusal: an unreachable server, a missing object.
        assert_eq!(
            denied("dial tcp 127.0.0.1:1: connect: connection refused"),
            None
        );
        assert_eq!(
            denied(r#"Error from server (NotFound): configmaps "x" not found"#),
            None
        );
        // Through preflight_error: exit 3 with the hint, and is_denied sees it.
        let e = preflight_error(CaptureError::Failed(msg_owned()), "`helm list`");
        assert!(is_denied(&e));
        let (code, hint) = crate::exit::classify(&e);
        assert_eq!(code, crate::exit::Code::Preflight);
        assert!(hint.unwrap().contains("secrets"));
        let e = preflight_error(CaptureError::Failed("connection refused".into()), "kubectl");
        assert!(!is_denied(&e));
    }

    fn msg_owned() -> String {
        r#"secrets is forbidden: User "u" cannot get resource "secrets" in API group "" in the namespace "n""#.into()
    }

    #[test]
    fn locked_release_names_the_exact_rollback() {
        // helm history -o json of an interrupted upgrade (Helm 3 writes revision as a number).
        let out = r#"[{"revision":1,"updated":"x","status":"superseded","chart":"cilium-1.18.11","app_version":"1.18.11","description":"Install complete"},
                      {"revision":2,"updated":"x","status":"deployed","chart":"cilium-1.18.12","app_version":"1.18.12","description":"Upgrade complete"},
                      {"revision":3,"updated":"x","status":"pending-upgrade","chart":"cilium-1.18.12","app_version":"1.18.12","description":"Preparing upgrade"}]"#;
        let h = parse_history(out).unwrap();
        assert_eq!(last_deployed(&h), Some(2));
        let k = Kube {
            context: Some("prod east".into()),
            kubeconfig: None,
        };
        let hint = locked_hint("cilium", "kube-system", &k, &h);
        assert!(
            hint.ends_with("helm rollback cilium 2 -n kube-system --kube-context 'prod east'"),
            "{hint}"
        );
        // A failed upgrade after a pending one: the superseded revision when none is deployed.
        let h = vec![
            (1, "superseded".into()),
            (2, "failed".into()),
            (3, "pending-rollback".into()),
        ];
        assert_eq!(last_deployed(&h), Some(1));
        // pending-install: nothing to roll back to.
        let h = parse_history(r#"[{"revision":"1","status":"pending-install"}]"#).unwrap();
        assert_eq!(last_deployed(&h), None);
        let hint = locked_hint("cilium", "kube-system", &Kube::default(), &h);
        assert!(
            hint.contains("helm history cilium -n kube-system"),
            "{hint}"
        );
        assert!(!hint.contains("rollback cilium"), "{hint}");
        assert!(parse_history("").unwrap().is_empty());
        assert!(parse_history("nope").is_err());
    }

    #[test]
    fn rollback_command_is_exact() {
        let r = CiliumRelease {
            name: "cilium".into(),
            namespace: "kube-system".into(),
            chart_version: Version::new(1, 16, 5),
            revision: 4,
            status: "deployed".into(),
            values: serde_json::json!({}),
        };
        assert_eq!(
            r.rollback_command(&Kube::default()),
            "helm rollback cilium 4 -n kube-system"
        );
        let k = Kube {
            context: Some("prod east".into()),
            kubeconfig: None,
        };
        assert_eq!(
            r.rollback_command(&k),
            "helm rollback cilium 4 -n kube-system --kube-context 'prod east'"
        );
    }
}
