//! Hubble flow filters, as the dynamic metrics file (`includeFilters`, `excludeFilters`) takes
//! them: each filter is a `flow.FlowFilter` (cilium/cilium `api/v1/flow/flow.proto`), read by the
//! agent from YAML through `sigs.k8s.io/yaml` into `api.MetricConfig`, whose filters are
//! protobuf messages decoded with protojson (`pkg/hubble/metrics/api/api.go`,
//! `pkg/hubble/metrics/metric_config_watcher.go`). protojson refuses an unknown field and a
//! value of the wrong type, and the watcher then refuses the whole file ("cannot parse yaml"):
//! one typo and no metric of the file changes. So every field and value is checked here.
//!
//! Field list: `message FlowFilter` of flow.proto at cilium/cilium@04bbfcb5 (fields 1–30), plus
//! `drop_reason_desc` (33), `source_ip_xlated` (34) and `interface` (35), present in the 1.17+
//! protos (UNCONFIRMED per patch release). Fields added later (`*_cluster_name`, `experimental`,
//! `http_url`, `http_header`, `node_labels`) are not accepted until checked.

use crate::version::Since;

/// The JSON shape of a field's values (protojson: a repeated field is a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterValue {
    /// `repeated string`.
    Strings,
    /// `repeated uint32` (protojson takes a number or a decimal string).
    U32s,
    /// `repeated bool`.
    Bools,
    /// `repeated <enum>`: the value names (or their numbers).
    Enum(&'static [(&'static str, i32)]),
    /// `repeated <message>`: objects with these fields.
    Messages(&'static [(&'static str, Scalar)]),
}

/// A field of a message value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    U32,
    I32,
    Bool,
}

#[derive(Debug, Clone, Copy)]
pub struct FilterField {
    /// The proto field name (protojson also takes the lowerCamelCase JSON name).
    pub name: &'static str,
    pub value: FilterValue,
    pub since: Since,
    pub help: &'static str,
}

impl FilterField {
    /// protojson's JSON name: lowerCamelCase of the proto name (`source_pod` → `sourcePod`).
    pub fn json_name(&self) -> String {
        json_name(self.name)
    }
}

/// protojson's JSON name of a proto field name: lowerCamelCase (`match_sub_type` → `matchSubType`).
pub fn json_name(name: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in name.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub const VERDICT: &[(&str, i32)] = &[
    ("VERDICT_UNKNOWN", 0),
    ("FORWARDED", 1),
    ("DROPPED", 2),
    ("ERROR", 3),
    ("AUDIT", 4),
    ("REDIRECTED", 5),
    ("TRACED", 6),
    ("TRANSLATED", 7),
];

pub const TRAFFIC_DIRECTION: &[(&str, i32)] = &[
    ("TRAFFIC_DIRECTION_UNKNOWN", 0),
    ("INGRESS", 1),
    ("EGRESS", 2),
];

pub const IP_VERSION: &[(&str, i32)] = &[("IP_NOT_USED", 0), ("IPv4", 1), ("IPv6", 2)];

/// The drop reasons (`enum DropReason`, flow.proto at cilium/cilium@04bbfcb5).
pub const DROP_REASON: &[(&str, i32)] = &[
    ("DROP_REASON_UNKNOWN", 0),
    ("INVALID_SOURCE_MAC", 130),
    ("INVALID_DESTINATION_MAC", 131),
    ("INVALID_SOURCE_IP", 132),
    ("POLICY_DENIED", 133),
    ("INVALID_PACKET_DROPPED", 134),
    ("CT_TRUNCATED_OR_INVALID_HEADER", 135),
    ("CT_MISSING_TCP_ACK_FLAG", 136),
    ("CT_UNKNOWN_L4_PROTOCOL", 137),
    ("CT_CANNOT_CREATE_ENTRY_FROM_PACKET", 138),
    ("UNSUPPORTED_L3_PROTOCOL", 139),
    ("MISSED_TAIL_CALL", 140),
    ("ERROR_WRITING_TO_PACKET", 141),
    ("UNKNOWN_L4_PROTOCOL", 142),
    ("UNKNOWN_ICMPV4_CODE", 143),
    ("UNKNOWN_ICMPV4_TYPE", 144),
    ("UNKNOWN_ICMPV6_CODE", 145),
    ("UNKNOWN_ICMPV6_TYPE", 146),
    ("ERROR_RETRIEVING_TUNNEL_KEY", 147),
    ("ERROR_RETRIEVING_TUNNEL_OPTIONS", 148),
    ("INVALID_GENEVE_OPTION", 149),
    ("UNKNOWN_L3_TARGET_ADDRESS", 150),
    ("STALE_OR_UNROUTABLE_IP", 151),
    ("NO_MATCHING_LOCAL_CONTAINER_FOUND", 152),
    ("ERROR_WHILE_CORRECTING_L3_CHECKSUM", 153),
    ("ERROR_WHILE_CORRECTING_L4_CHECKSUM", 154),
    ("CT_MAP_INSERTION_FAILED", 155),
    ("INVALID_IPV6_EXTENSION_HEADER", 156),
    ("IP_FRAGMENTATION_NOT_SUPPORTED", 157),
    ("SERVICE_BACKEND_NOT_FOUND", 158),
    ("NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT", 160),
    ("FAILED_TO_INSERT_INTO_PROXYMAP", 161),
    ("REACHED_EDT_RATE_LIMITING_DROP_HORIZON", 162),
    ("UNKNOWN_CONNECTION_TRACKING_STATE", 163),
    ("LOCAL_HOST_IS_UNREACHABLE", 164),
    ("NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION", 165),
    ("UNSUPPORTED_L2_PROTOCOL", 166),
    ("NO_MAPPING_FOR_NAT_MASQUERADE", 167),
    ("UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE", 168),
    ("FIB_LOOKUP_FAILED", 169),
    ("ENCAPSULATION_TRAFFIC_IS_PROHIBITED", 170),
    ("INVALID_IDENTITY", 171),
    ("UNKNOWN_SENDER", 172),
    ("NAT_NOT_NEEDED", 173),
    ("IS_A_CLUSTERIP", 174),
    ("FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND", 175),
    ("FORBIDDEN_ICMPV6_MESSAGE", 176),
    ("DENIED_BY_LB_SRC_RANGE_CHECK", 177),
    ("SOCKET_LOOKUP_FAILED", 178),
    ("SOCKET_ASSIGN_FAILED", 179),
    ("PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL", 180),
    ("POLICY_DENY", 181),
    ("VLAN_FILTERED", 182),
    ("INVALID_VNI", 183),
    ("INVALID_TC_BUFFER", 184),
    ("NO_SID", 185),
    ("MISSING_SRV6_STATE", 186),
    ("NAT46", 187),
    ("NAT64", 188),
    ("AUTH_REQUIRED", 189),
    ("CT_NO_MAP_FOUND", 190),
    ("SNAT_NO_MAP_FOUND", 191),
    ("INVALID_CLUSTER_ID", 192),
    ("UNSUPPORTED_PROTOCOL_FOR_DSR_ENCAP", 193),
    ("NO_EGRESS_GATEWAY", 194),
    ("TTL_EXCEEDED", 196),
    ("NO_NODE_ID", 197),
    ("DROP_HOST_NOT_READY", 202),
    ("DROP_EP_NOT_READY", 203),
];

const WORKLOAD: &[(&str, Scalar)] = &[("name", Scalar::String), ("kind", Scalar::String)];
const EVENT_TYPE: &[(&str, Scalar)] = &[
    ("type", Scalar::I32),
    ("match_sub_type", Scalar::Bool),
    ("sub_type", Scalar::I32),
];
const TCP_FLAGS: &[(&str, Scalar)] = &[
    ("FIN", Scalar::Bool),
    ("SYN", Scalar::Bool),
    ("RST", Scalar::Bool),
    ("PSH", Scalar::Bool),
    ("ACK", Scalar::Bool),
    ("URG", Scalar::Bool),
    ("ECE", Scalar::Bool),
    ("CWR", Scalar::Bool),
    ("NS", Scalar::Bool),
];
const INTERFACE: &[(&str, Scalar)] = &[("index", Scalar::U32), ("name", Scalar::String)];

const fn f(name: &'static str, value: FilterValue, help: &'static str) -> FilterField {
    FilterField {
        name,
        value,
        since: Since::from(1, 17),
        help,
    }
}

use FilterValue::{Bools, Enum, Messages, Strings, U32s};

/// Every field of a flow filter, in flow.proto order.
pub const FILTER_FIELDS: &[FilterField] = &[
    f("uuid", Strings, "flow UUIDs"),
    f("source_ip", Strings, "source IPs or CIDRs (\"10.0.0.0/8\")"),
    f("source_ip_xlated", Strings, "source IPs after SNAT"),
    f(
        "source_pod",
        Strings,
        "source pod name prefixes, optionally in a namespace (\"kube-system/coredns-\", \"ns/\")",
    ),
    f("source_fqdn", Strings, "source FQDNs"),
    f(
        "source_label",
        Strings,
        "source label selectors (\"k8s:app=web\")",
    ),
    f("source_service", Strings, "source services (\"ns/name\")"),
    f(
        "source_workload",
        Messages(WORKLOAD),
        "source workloads ({name, kind})",
    ),
    f("destination_ip", Strings, "destination IPs or CIDRs"),
    f(
        "destination_pod",
        Strings,
        "destination pod name prefixes, optionally in a namespace",
    ),
    f("destination_fqdn", Strings, "destination FQDNs"),
    f("destination_label", Strings, "destination label selectors"),
    f("destination_service", Strings, "destination services"),
    f(
        "destination_workload",
        Messages(WORKLOAD),
        "destination workloads ({name, kind})",
    ),
    f(
        "traffic_direction",
        Enum(TRAFFIC_DIRECTION),
        "INGRESS or EGRESS",
    ),
    f("verdict", Enum(VERDICT), "FORWARDED, DROPPED, ..."),
    f(
        "drop_reason_desc",
        Enum(DROP_REASON),
        "drop reasons (POLICY_DENIED, ...)",
    ),
    f(
        "interface",
        Messages(INTERFACE),
        "network interfaces ({index, name})",
    ),
    f(
        "event_type",
        Messages(EVENT_TYPE),
        "Cilium event types ({type, match_sub_type, sub_type})",
    ),
    f(
        "http_status_code",
        Strings,
        "HTTP status code prefixes (\"4+\", \"404\")",
    ),
    f(
        "protocol",
        Strings,
        "L4 or L7 protocols (\"tcp\", \"udp\", \"http\", \"dns\")",
    ),
    f(
        "source_port",
        Strings,
        "L4 source ports, as strings (\"8000\")",
    ),
    f(
        "destination_port",
        Strings,
        "L4 destination ports, as strings (\"53\")",
    ),
    f("reply", Bools, "whether the flow is a reply"),
    f("dns_query", Strings, "DNS query patterns (RE2)"),
    f("source_identity", U32s, "source security identities"),
    f(
        "destination_identity",
        U32s,
        "destination security identities",
    ),
    f("http_method", Strings, "HTTP methods (\"GET\")"),
    f("http_path", Strings, "HTTP path patterns (RE2)"),
    f("tcp_flags", Messages(TCP_FLAGS), "TCP flags ({SYN: true})"),
    f("node_name", Strings, "node name patterns (\"k8s*\")"),
    f("ip_version", Enum(IP_VERSION), "IPv4 or IPv6"),
    f("trace_id", Strings, "trace IDs"),
];

/// The field a filter key names (proto name, or protojson's lowerCamelCase JSON name).
pub fn filter_field(key: &str) -> Option<&'static FilterField> {
    FILTER_FIELDS
        .iter()
        .find(|f| f.name == key || f.json_name() == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_json_names() {
        assert_eq!(filter_field("source_pod").unwrap().name, "source_pod");
        assert_eq!(filter_field("sourcePod").unwrap().name, "source_pod");
        assert_eq!(
            filter_field("drop_reason_desc").unwrap().json_name(),
            "dropReasonDesc"
        );
        assert!(filter_field("source_pods").is_none());
        let mut names: Vec<_> = FILTER_FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FILTER_FIELDS.len());
    }
}
