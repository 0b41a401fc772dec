//! The Kubernetes objects a Cilium install creates, by the names and labels the chart gives
//! them (cilium/cilium `install/kubernetes/cilium/templates/`). Every module that names one reads
//! it from here.

/// Where the chart is installed by default, and so where ciliumon looks for it.
pub const NAMESPACE: &str = "kube-system";
/// The default Helm release name (and the chart name) of Cilium.
pub const RELEASE: &str = "cilium";
pub const CHART: &str = "cilium";
/// The chart repository, as `helm repo add` registers it.
pub const REPO_NAME: &str = "cilium";
pub const REPO_URL: &str = "https://helm.cilium.io";

/// The agent's DaemonSet, and the label its pods carry.
pub const AGENT_DAEMONSET: &str = "cilium";
pub const AGENT_SELECTOR: &str = "k8s-app=cilium";
/// The agent's container in its pods (`kubectl logs POD -c cilium-agent`).
pub const AGENT_CONTAINER: &str = "cilium-agent";
/// The operator's Deployment, and the label its pods carry.
pub const OPERATOR_DEPLOYMENT: &str = "cilium-operator";
pub const OPERATOR_SELECTOR: &str = "io.cilium/app=operator";
/// The ConfigMap the agent and operator read their settings from (`hubble-metrics`,
/// `prometheus-serve-addr`, ...).
pub const CONFIG_MAP: &str = "cilium-config";
/// The ConfigMap key with the Hubble metric list, space-separated.
pub const CONFIG_MAP_HUBBLE_METRICS: &str = "hubble-metrics";
/// The key of `cilium-config` that points the agent at the dynamic metrics file (1.17+); set
/// when `hubble.metrics.dynamic.enabled` is on.
pub const CONFIG_MAP_DYNAMIC_PATH: &str = "hubble-dynamic-metrics-config-path";
/// The ConfigMap with the dynamic Hubble metrics (the chart's default
/// `hubble.metrics.dynamic.config.configMapName`), and its one key, whose body is
/// `metrics: [{name, contextOptions, includeFilters, excludeFilters}]`
/// (cilium/cilium `install/kubernetes/cilium/templates/cilium-dynamic-metrics-configmap.yaml`).
pub const DYNAMIC_CONFIG_MAP: &str = "cilium-dynamic-metrics-config";
pub const DYNAMIC_CONFIG_KEY: &str = "dynamic-metrics.yaml";
/// The ConfigMap keys the agent reads its metric settings from (facts §4 table: "hubble-metrics-server",
/// "hubble-metrics-server-enable-tls" (1.16+), "enable-hubble-open-metrics"). The listen addresses of
/// the three components are `ComponentFacts::config_map_address_key`.
pub const CONFIG_MAP_HUBBLE_OPEN_METRICS: &str = "enable-hubble-open-metrics";
pub const CONFIG_MAP_HUBBLE_TLS: &str = "hubble-metrics-server-enable-tls";
/// The Nodes, whose `Ready` condition says whether a node can serve at all.
pub const NODES_PATH: &str = "/api/v1/nodes";
/// The Cilium policy CRDs whose L7 rules (`toPorts[].rules`) the L7 families need (facts §1.1/§2:
/// dns, http, kafka count only traffic through the L7 proxy).
pub const NETWORK_POLICIES_PATH: &str = "/apis/cilium.io/v2/ciliumnetworkpolicies";
pub const CLUSTERWIDE_NETWORK_POLICIES_PATH: &str =
    "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies";
/// The Hubble Relay and UI Deployments.
pub const HUBBLE_RELAY: &str = "hubble-relay";
pub const HUBBLE_UI: &str = "hubble-ui";
/// The Hubble UI's Service has the Deployment's name and serves on port 80; as a NodePort, the
/// chart's default node port (`hubble.ui.service.nodePort`, 1.14-1.20).
pub const HUBBLE_UI_PORT: u16 = 80;
pub const HUBBLE_UI_NODE_PORT: u16 = 31235;

/// kube-prometheus-stack's Prometheus (facts §5): the Prometheus Operator's governing Service
/// `prometheus-operated` carries this label, and names its web port `web` (`http-web` in some
/// kube-prometheus-stack versions).
pub const PROMETHEUS_SERVICE_SELECTOR: &str = "operated-prometheus=true";
pub const PROMETHEUS_WEB_PORTS: [&str; 2] = ["web", "http-web"];
/// The Prometheus Operator API group version (facts §4/§5: the ServiceMonitor CRDs).
pub const MONITORING_GROUP_VERSION: &str = "monitoring.coreos.com/v1";

/// `/apis/monitoring.coreos.com/v1/namespaces/NS/servicemonitors`.
pub fn service_monitors_path(ns: &str) -> String {
    format!("/apis/{MONITORING_GROUP_VERSION}/namespaces/{ns}/servicemonitors")
}

/// `/apis/monitoring.coreos.com/v1/prometheuses`, in every namespace.
pub fn prometheuses_path() -> String {
    format!("/apis/{MONITORING_GROUP_VERSION}/prometheuses")
}

/// `daemonset/cilium`, as kubectl names the agent's DaemonSet.
pub fn agent_daemonset_ref() -> String {
    format!("daemonset/{AGENT_DAEMONSET}")
}

/// `deployment/cilium-operator`, as kubectl names the operator's Deployment.
pub fn operator_deployment_ref() -> String {
    format!("deployment/{OPERATOR_DEPLOYMENT}")
}

/// The same, in the short form the report prints (`ds/cilium`).
pub fn agent_daemonset_short() -> String {
    format!("ds/{AGENT_DAEMONSET}")
}

/// A label selector, URL-encoded for an API path's query (`k8s-app%3Dcilium`).
pub fn encoded(selector: &str) -> String {
    selector.replace('/', "%2F").replace('=', "%3D")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(agent_daemonset_ref(), "daemonset/cilium");
        assert_eq!(agent_daemonset_short(), "ds/cilium");
        assert_eq!(operator_deployment_ref(), "deployment/cilium-operator");
        assert_eq!(encoded(AGENT_SELECTOR), "k8s-app%3Dcilium");
        assert_eq!(encoded(OPERATOR_SELECTOR), "io.cilium%2Fapp%3Doperator");
        assert_eq!(
            encoded(PROMETHEUS_SERVICE_SELECTOR),
            "operated-prometheus%3Dtrue"
        );
        assert_eq!(
            service_monitors_path("kube-system"),
            "/apis/monitoring.coreos.com/v1/namespaces/kube-system/servicemonitors"
        );
        assert_eq!(
            prometheuses_path(),
            "/apis/monitoring.coreos.com/v1/prometheuses"
        );
    }
}
