//! Report formats built from a [`Detection`] and a sink's [`Protector`]:
//! - [`CchReport`]: the ACDC CCH API v2 object, exactly the fields of the original submitter,
//!   validated against `schemas/cch-report.schema.json` ([`validate_cch`]);
//! - [`ReportDoc`]: relbot's own, richer JSON document (JSON lines, webhook, Kafka JSON):
//!   ids, window, per-period counts and (protected) peers, score, confidence, evidence.
//!
//! `timestamp` is when the activity was observed: the detection's last flow start
//! (`evidence.last_flow_ms`), or its window end when it saw no flow. `confidence_level` is the
//! detection's score rounded to two decimals.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use humantime_serde::re::humantime;
use relbot_codec::{Detection, DetectionId, ReportId, SrcMode};
use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::protect::Protector;

/// The CCH report schema, as shipped in `schemas/`.
pub const CCH_SCHEMA: &str = include_str!("../../../schemas/cch-report.schema.json");

/// Default `report_type` of CCH reports (the original's text).
pub const DEFAULT_REPORT_TYPE: &str = "RelBot detected suspicious host activities";

/// An ACDC CCH API v2 bot report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CchReport {
    /// Always `eu.acdc.bot`.
    pub report_category: String,
    /// Free text.
    pub report_type: String,
    /// ISO 8601 UTC without fraction.
    pub timestamp: String,
    /// Always `ip`.
    pub source_key: String,
    /// The protected host address.
    pub source_value: String,
    /// Score in [0, 1], two decimals.
    pub confidence_level: f64,
    /// Always 1.
    pub version: u32,
    /// Always `other`.
    pub report_subcategory: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// The address when IPv4.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_ip_v4: Option<String>,
    /// The address when IPv6.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_ip_v6: Option<String>,
    /// `plain`, `anon` or `pseudo`.
    pub src_mode: SrcMode,
}

impl CchReport {
    /// The report for `detection` with the host protected by `protector`.
    pub fn build(detection: &Detection, protector: &Protector, report_type: &str) -> Self {
        let host = protector.apply(detection.host);
        let text = host.to_string();
        let (ip_version, v4, v6) = match host {
            IpAddr::V4(_) => (4, Some(text.clone()), None),
            IpAddr::V6(_) => (6, None, Some(text.clone())),
        };
        Self {
            report_category: "eu.acdc.bot".to_owned(),
            report_type: report_type.to_owned(),
            timestamp: observed_at(detection),
            source_key: "ip".to_owned(),
            source_value: text,
            confidence_level: confidence_level(detection.score),
            version: 1,
            report_subcategory: "other".to_owned(),
            ip_version,
            src_ip_v4: v4,
            src_ip_v6: v6,
            src_mode: protector.mode(),
        }
    }
}

static CCH_VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: serde_json::Value =
        serde_json::from_str(CCH_SCHEMA).map_err(|e| format!("schema is not JSON: {e}"))?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("schema does not compile: {e}"))
});

/// Checks a CCH report (as JSON) against `schemas/cch-report.schema.json`; the error lists
/// every violation with its location.
pub fn validate_cch(report: &serde_json::Value) -> Result<(), ReportError> {
    let schema = "schemas/cch-report.schema.json";
    let validator = CCH_VALIDATOR
        .as_ref()
        .map_err(|reason| ReportError::Schema {
            schema,
            reason: reason.clone(),
        })?;
    let problems: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at '{}'", e, e.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ReportError::Schema {
            schema,
            reason: problems.join("; "),
        })
    }
}

/// One candidate period in a [`ReportDoc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocPeriod {
    /// Candidate period, ms.
    pub period_ms: i64,
    /// Periodic peers found.
    pub count: u32,
    /// The peers listed by the detector, protected like the host.
    pub peers: Vec<String>,
}

/// relbot's report document (JSON lines, webhook, Kafka JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDoc {
    /// [`ReportId::derive`] of the detection and sink.
    pub report_id: ReportId,
    /// The detection reported.
    pub detection_id: DetectionId,
    /// The sink's configured name.
    pub sink: String,
    /// Always `eu.acdc.bot`.
    pub report_category: String,
    /// Free text, as in CCH reports.
    pub report_type: String,
    /// The protected host address.
    pub host: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// `plain`, `anon` or `pseudo`.
    pub src_mode: SrcMode,
    /// When the activity was observed (see the module doc), ISO 8601 UTC.
    pub timestamp: String,
    /// Window start, ISO 8601 UTC.
    pub window_start: String,
    /// Window end (exclusive), ISO 8601 UTC.
    pub window_end: String,
    /// Detection algorithm.
    pub algorithm: String,
    /// Algorithm version.
    pub algorithm_version: String,
    /// Host score in [0, 1].
    pub score: f64,
    /// Detector confidence in [0, 1].
    pub confidence: f64,
    /// CCH confidence level (score, two decimals).
    pub confidence_level: f64,
    /// Largest count over the periods.
    pub max_count: u32,
    /// Per candidate period.
    pub periods: Vec<DocPeriod>,
    /// Flows of the host in the window.
    pub flows_seen: u64,
    /// Pairs evaluated.
    pub pairs_evaluated: u64,
}

impl ReportDoc {
    /// The document for `detection` delivered to the sink `sink`.
    pub fn build(
        detection: &Detection,
        sink: &str,
        protector: &Protector,
        report_type: &str,
    ) -> Self {
        let host = protector.apply(detection.host);
        Self {
            report_id: ReportId::derive(&detection.detection_id, sink),
            detection_id: detection.detection_id,
            sink: sink.to_owned(),
            report_category: "eu.acdc.bot".to_owned(),
            report_type: report_type.to_owned(),
            host: host.to_string(),
            ip_version: if host.is_ipv4() { 4 } else { 6 },
            src_mode: protector.mode(),
            timestamp: observed_at(detection),
            window_start: iso_seconds(detection.window_start_ms),
            window_end: iso_seconds(detection.window_end_ms),
            algorithm: detection.algorithm.clone(),
            algorithm_version: detection.algorithm_version.clone(),
            score: detection.score,
            confidence: detection.confidence,
            confidence_level: confidence_level(detection.score),
            max_count: crate::rule::max_count(detection),
            periods: detection
                .periods
                .iter()
                .map(|p| DocPeriod {
                    period_ms: p.period_ms,
                    count: p.count,
                    peers: p
                        .peers
                        .iter()
                        .map(|&peer| protector.apply(peer).to_string())
                        .collect(),
                })
                .collect(),
            flows_seen: detection.evidence.flows_seen,
            pairs_evaluated: detection.evidence.pairs_evaluated,
        }
    }
}

/// The CCH `confidence_level` of a score: clamped to [0, 1], two decimals.
pub fn confidence_level(score: f64) -> f64 {
    if score.is_nan() {
        return 0.0;
    }
    (score.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

/// When the detection's activity was observed, ISO 8601 UTC without fraction.
pub fn observed_at(detection: &Detection) -> String {
    let ms = if detection.evidence.last_flow_ms > 0 {
        detection.evidence.last_flow_ms
    } else {
        detection.window_end_ms
    };
    iso_seconds(ms)
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (times before 1970 print as 1970).
pub fn iso_seconds(ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Serialises `value` as JSON bytes.
pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ReportError> {
    serde_json::to_vec(value).map_err(|e| ReportError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::detection;

    #[test]
    fn cch_report_has_exactly_the_original_fields() {
        let d = detection("192.0.2.10", &[2, 2, 2, 0]);
        let report = CchReport::build(&d, &Protector::Plain, DEFAULT_REPORT_TYPE);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value,
            json!({
                "report_category": "eu.acdc.bot",
                "report_type": "RelBot detected suspicious host activities",
                "timestamp": "2024-01-01T00:50:00Z",
                "source_key": "ip",
                "source_value": "192.0.2.10",
                "confidence_level": 0.7,
                "version": 1,
                "report_subcategory": "other",
                "ip_version": 4,
                "src_ip_v4": "192.0.2.10",
                "src_mode": "plain"
            })
        );
        validate_cch(&value).unwrap();
    }

    #[test]
    fn ipv6_and_anon_are_valid_and_marked() {
        let d = detection("2001:db8:1:2::5", &[0, 3]);
        let protector = Protector::Anon {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        };
        let value = serde_json::to_value(CchReport::build(&d, &protector, "x")).unwrap();
        assert_eq!(value["src_ip_v6"], "2001:db8:1::");
        assert_eq!(value["ip_version"], 6);
        assert_eq!(value["src_mode"], "anon");
        assert!(value.get("src_ip_v4").is_none());
        validate_cch(&value).unwrap();
    }

    #[test]
    fn the_schema_rejects_what_cch_would() {
        let d = detection("192.0.2.10", &[1]);
        let good = serde_json::to_value(CchReport::build(&d, &Protector::Plain, "x")).unwrap();
        let mut extra = good.clone();
        extra["comment"] = json!("hi");
        let mut both = good.clone();
        both["src_ip_v6"] = json!("2001:db8::1");
        let mut bad_time = good.clone();
        bad_time["timestamp"] = json!("2024-01-01 00:00:00");
        let mut bad_level = good;
        bad_level["confidence_level"] = json!(1.5);
        for bad in [extra, both, bad_time, bad_level] {
            let err = validate_cch(&bad).unwrap_err();
            assert!(matches!(err, ReportError::Schema { .. }), "{err}");
        }
    }

    #[test]
    fn confidence_level_follows_the_score() {
        assert_eq!(confidence_level(0.456), 0.46);
        assert_eq!(confidence_level(1.7), 1.0);
        assert_eq!(confidence_level(f64::NAN), 0.0);
        let low = detection("192.0.2.1", &[1]);
        let high = detection("192.0.2.1", &[4]);
        let p = Protector::Plain;
        assert!(
            CchReport::build(&low, &p, "x").confidence_level
                < CchReport::build(&high, &p, "x").confidence_level
        );
    }

    #[test]
    fn doc_protects_host_and_peers() {
        let d = detection("192.0.2.10", &[2]);
        let p = Protector::Anon {
            ipv4_prefix: 16,
            ipv6_prefix: 48,
        };
        let doc = ReportDoc::build(&d, "soc", &p, DEFAULT_REPORT_TYPE);
        assert_eq!(doc.host, "192.0.0.0");
        assert_eq!(doc.periods[0].peers, ["198.51.0.0", "198.51.0.0"]);
        assert_eq!(doc.report_id, ReportId::derive(&d.detection_id, "soc"));
        assert_eq!(doc.window_start, "2024-01-01T00:00:00Z");
    }
}
