//! Chart keys that moved between Cilium chart versions, and the Helm capabilities the plan
//! depends on. Sources: `shared/reference/cilium-hubble-facts.md` (flow export) and the charts'
//! `values.yaml` in `tests/fixtures/cilium-chart/`; Helm 3.14 release notes
//! (`--reset-then-reuse-values`, helm/helm#12173).

use crate::version::{Since, Version};

/// Where the static flow export (`hubble.export`) lives in this chart version, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowExportKeys {
    /// `hubble.export.static.filePath`.
    pub file_path: &'static str,
    /// `fileMaxSizeMb` and `fileMaxBackups`: under `hubble.export` until 1.17, under
    /// `hubble.export.static` from 1.18.
    pub file_max_size_mb: &'static str,
    pub file_max_backups: &'static str,
}

/// The Hubble metric list (facts §3.1: `hubble.metrics.enabled`, a list; empty = no server).
pub const HUBBLE_METRICS_ENABLED: &str = "hubble.metrics.enabled";
/// OpenMetrics on :9965, needed for exemplars (facts §1.4 `exemplars=true`, §3.1
/// `hubble.metrics.enableOpenMetrics`).
pub const HUBBLE_OPEN_METRICS: &str = "hubble.metrics.enableOpenMetrics";
/// :9965 over HTTPS (facts §3.1 `hubble.metrics.tls.enabled`, 1.16+).
pub const HUBBLE_METRICS_TLS: &str = "hubble.metrics.tls.enabled";

/// How a missing ServiceMonitor CRD shows in `helm upgrade`'s output (facts §5 "Ordering
/// problem"): the chart's own `fail` for the agent/operator/relay ServiceMonitors (facts §4),
/// and the API server's answer for the Hubble one.
pub const SERVICE_MONITOR_CRD_MISSING: [&str; 2] = [
    "Service Monitor requires monitoring.coreos.com/v1 CRDs",
    "no matches for kind \"ServiceMonitor\"",
];

/// The prefix of everything flow export sets (removed when export is off).
pub const FLOW_EXPORT: &str = "hubble.export";

/// The first chart with `hubble.export` (1.15).
pub const FLOW_EXPORT_SINCE: (u32, u32) = (1, 15);

/// The flow export keys of chart `v`; `None` before 1.15 (the chart has no `hubble.export`).
pub fn flow_export(v: &Version) -> Option<FlowExportKeys> {
    if !v.at_least(FLOW_EXPORT_SINCE.0, FLOW_EXPORT_SINCE.1) {
        return None;
    }
    Some(if v.at_least(1, 18) {
        FlowExportKeys {
            file_path: "hubble.export.static.filePath",
            file_max_size_mb: "hubble.export.static.fileMaxSizeMb",
            file_max_backups: "hubble.export.static.fileMaxBackups",
        }
    } else {
        FlowExportKeys {
            file_path: "hubble.export.static.filePath",
            file_max_size_mb: "hubble.export.fileMaxSizeMb",
            file_max_backups: "hubble.export.fileMaxBackups",
        }
    })
}

/// The static Hubble metric list (`hubble.metrics.enabled`, a list of specs; null or empty is off).
pub const STATIC_METRICS: &str = "hubble.metrics.enabled";

/// The first chart with dynamic Hubble metrics (cilium/cilium#35185, in 1.17.0).
pub const DYNAMIC_METRICS_SINCE: (u32, u32) = (1, 17);

/// The chart keys of dynamic Hubble metrics: the same in every chart 1.17–1.20 (values and
/// `values.schema.json` in `tests/fixtures/cilium-chart/1.17.18` … `1.20.0`:
/// `hubble.metrics.dynamic.{enabled, config.{configMapName, createConfigMap, content}}`).
/// The ConfigMap template renders `content` under `metrics:` when `enabled` and
/// `createConfigMap` are both true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicMetricsKeys {
    pub enabled: &'static str,
    pub content: &'static str,
    pub config_map_name: &'static str,
    pub create_config_map: &'static str,
}

pub const DYNAMIC_METRICS: DynamicMetricsKeys = DynamicMetricsKeys {
    enabled: "hubble.metrics.dynamic.enabled",
    content: "hubble.metrics.dynamic.config.content",
    config_map_name: "hubble.metrics.dynamic.config.configMapName",
    create_config_map: "hubble.metrics.dynamic.config.createConfigMap",
};

/// The dynamic metrics keys of chart `v`; `None` before 1.17.
pub fn dynamic_metrics(v: &Version) -> Option<DynamicMetricsKeys> {
    v.at_least(DYNAMIC_METRICS_SINCE.0, DYNAMIC_METRICS_SINCE.1)
        .then_some(DYNAMIC_METRICS)
}

/// The charts that render the `hubble-metrics` Service (port 9965) and the `hubble`
/// ServiceMonitor when only dynamic metrics are on. Until cilium/cilium#37474 ("create service
/// monitor when using dynamic metrics") both templates were gated on `hubble.metrics.enabled`
/// alone (cilium/cilium `install/kubernetes/cilium/templates/hubble/metrics-service.yaml` and
/// `servicemonitor.yaml` @ 4e8107bae65049a9fa920c0d926a823d9ac59c1d and
/// c8136439675394bb729f0bcaf57a0dd072500cc6: `if and .Values.hubble.enabled
/// .Values.hubble.metrics.enabled`). The fix is in 1.18.0 and was backported to 1.17.2
/// (backport cilium/cilium#37648; the 1.17.2 release notes: "Fix creating ServiceMonitor for
/// Hubble when dynamic metrics are enabled in the Helm chart"). So 1.17.0 and 1.17.1 render
/// neither in dynamic mode.
pub const HUBBLE_SERVICE_IN_DYNAMIC_MODE: Since = Since::from_patch(1, 17, 2);

/// Whether chart `v` renders the `hubble-metrics` Service and the `hubble` ServiceMonitor when
/// only dynamic metrics are on (`HUBBLE_SERVICE_IN_DYNAMIC_MODE`).
pub fn hubble_service_in_dynamic_mode(v: &Version) -> bool {
    HUBBLE_SERVICE_IN_DYNAMIC_MODE.contains(v)
}

/// The charts whose `cilium-config` leaves out `hubble-dynamic-metrics-config-path` when the
/// static list is empty, so agents with dynamic metrics on and `hubble.metrics.enabled: []`
/// start the metrics server with no metric at all. cilium/cilium#37543 (in 1.17.2, backport
/// cilium/cilium#37904) moved the key under the `if .Values.hubble.metrics.enabled` of the
/// static list; cilium/cilium#38893 ("helm: fix hubble dynamic metrics config conflict", in
/// 1.18.0, backport cilium/cilium#39075 in 1.17.4) moved it out again: `{{- if
/// .Values.hubble.metrics.dynamic.enabled }} hubble-dynamic-metrics-config-path:
/// /dynamic-metrics-config/dynamic-metrics.yaml` (cilium/cilium
/// `install/kubernetes/cilium/templates/cilium-configmap.yaml` @
/// 002c6fff44159c64bdb86ebfb145157b33eb997f). ciliumon's dynamic mode sets the static list to
/// `[]` (never both), which these two charts cannot serve.
pub const DYNAMIC_PATH_NEEDS_STATIC_LIST: Since = Since {
    since: (1, 17, 2),
    until: Some((1, 17, 4)),
};

/// The first Helm with `--reset-then-reuse-values`.
pub const HELM_RESET_THEN_REUSE: (u32, u32) = (3, 14);

/// Whether Helm `major.minor` has `--reset-then-reuse-values`. An unknown Helm (offline plan) is
/// taken to have it.
pub fn helm_has_reset_then_reuse(helm: Option<(u32, u32)>) -> bool {
    helm.is_none_or(|hv| hv >= HELM_RESET_THEN_REUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_moves() {
        assert_eq!(flow_export(&Version::new(1, 14, 19)), None);
        let k = flow_export(&Version::new(1, 17, 0)).unwrap();
        assert_eq!(k.file_max_size_mb, "hubble.export.fileMaxSizeMb");
        let k = flow_export(&Version::new(1, 18, 0)).unwrap();
        assert_eq!(k.file_max_backups, "hubble.export.static.fileMaxBackups");
    }

    #[test]
    fn dynamic_from_117() {
        assert_eq!(dynamic_metrics(&Version::new(1, 16, 19)), None);
        let k = dynamic_metrics(&Version::new(1, 17, 0)).unwrap();
        assert_eq!(k.content, "hubble.metrics.dynamic.config.content");
        assert!(!hubble_service_in_dynamic_mode(&Version::new(1, 17, 0)));
        assert!(!hubble_service_in_dynamic_mode(&Version::new(1, 17, 1)));
        assert!(hubble_service_in_dynamic_mode(&Version::new(1, 17, 2)));
        assert!(hubble_service_in_dynamic_mode(&Version::new(1, 17, 18)));
        assert!(hubble_service_in_dynamic_mode(&Version::new(1, 18, 0)));
        for (patch, broken) in [(1, false), (2, true), (3, true), (4, false), (18, false)] {
            assert_eq!(
                DYNAMIC_PATH_NEEDS_STATIC_LIST.contains(&Version::new(1, 17, patch)),
                broken,
                "1.17.{patch}"
            );
        }
        assert!(!DYNAMIC_PATH_NEEDS_STATIC_LIST.contains(&Version::new(1, 18, 0)));
    }

    #[test]
    fn helm_capability() {
        assert!(helm_has_reset_then_reuse(None));
        assert!(helm_has_reset_then_reuse(Some((3, 14))));
        assert!(helm_has_reset_then_reuse(Some((4, 0))));
        assert!(!helm_has_reset_then_reuse(Some((3, 13))));
    }
}
