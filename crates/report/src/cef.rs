//! CEF (ArcSight Common Event Format, read by ArcSight, QRadar, Sentinel) inside an RFC 5424
//! syslog message.
//!
//! ```text
//! <164>1 2024-01-01T01:01:40.000Z sensor-1 relbot-reporter 4242 detection [relbot@32473 reportId="…"] CEF:0|relbot|relbot-reporter|0.1.0|p2p-periodic-peers|P2P botnet: periodic peer contacts|7|rt=1704070800000 src=192.0.2.10 …
//! ```
//!
//! The structured-data id uses enterprise number 32473, reserved for documentation
//! (RFC 5612). Severity is the score on CEF's 0..=10 scale.

use std::net::IpAddr;
use std::time::SystemTime;

use humantime_serde::re::humantime;
use relbot_codec::{Detection, ReportId};

use crate::format::{confidence_level, iso_seconds};
use crate::protect::Protector;
use crate::rule::max_count;

/// Syslog severity of the messages: 4, warning.
const SEVERITY_WARNING: u8 = 4;

/// Escapes a CEF header field (`\` and `|`).
fn header(value: &str) -> String {
    value.replace('\\', "\\\\").replace('|', "\\|")
}

/// Escapes a CEF extension value (`\`, `=`, line breaks).
fn ext(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// Escapes an RFC 5424 structured-data parameter value (`"`, `\`, `]`).
fn sd_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// The CEF line of a detection, the host and peers protected by `protector`.
pub fn cef_line(detection: &Detection, report_id: &ReportId, protector: &Protector) -> String {
    let host = protector.apply(detection.host);
    let severity = (confidence_level(detection.score) * 10.0).round() as u8;
    let address = match host {
        IpAddr::V4(v4) => format!("src={v4}"),
        IpAddr::V6(v6) => format!("c6a2={v6} c6a2Label=Source IPv6 Address"),
    };
    let periods: Vec<String> = detection
        .periods
        .iter()
        .map(|p| format!("{}s:{}", p.period_ms / 1000, p.count))
        .collect();
    format!(
        "CEF:0|relbot|relbot-reporter|{}|p2p-periodic-peers|{}|{}|rt={} {} externalId={} \
         cs1Label=detectionId cs1={} cs2Label=algorithm cs2={} cs3Label=srcMode cs3={} \
         cs4Label=periods cs4={} cn1Label=maxPeerCount cn1={} cfp1Label=score cfp1={:.3} \
         start={} end={} msg={}",
        header(env!("CARGO_PKG_VERSION")),
        header("P2P botnet: periodic peer contacts"),
        severity.min(10),
        detection
            .evidence
            .last_flow_ms
            .max(detection.window_start_ms),
        address,
        report_id,
        detection.detection_id,
        ext(&format!(
            "{}/{}",
            detection.algorithm, detection.algorithm_version
        )),
        protector.mode().as_str(),
        ext(&periods.join(",")),
        max_count(detection),
        detection.score,
        detection.window_start_ms,
        detection.window_end_ms,
        ext(&format!(
            "host contacts peers with a fixed period in window {}..{}",
            iso_seconds(detection.window_start_ms),
            iso_seconds(detection.window_end_ms)
        )),
    )
}

/// Header fields of the RFC 5424 messages.
#[derive(Debug, Clone)]
pub struct SyslogHeader {
    /// Facility code (e.g. 16 for local0).
    pub facility: u8,
    /// HOSTNAME field (`-` when unknown).
    pub hostname: String,
    /// APP-NAME field.
    pub app_name: String,
}

/// One RFC 5424 message (without transport framing) carrying `cef`.
pub fn rfc5424(header: &SyslogHeader, report_id: &ReportId, cef: &str) -> String {
    let pri = u16::from(header.facility) * 8 + u16::from(SEVERITY_WARNING);
    let now = humantime::format_rfc3339_millis(SystemTime::now());
    format!(
        "<{pri}>1 {now} {} {} {} detection [relbot@32473 reportId=\"{}\"] {cef}",
        field(&header.hostname),
        field(&header.app_name),
        std::process::id(),
        sd_value(&report_id.to_string()),
    )
}

/// An RFC 5424 header field: printable ASCII without spaces, at most 255 bytes, `-` if empty.
fn field(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if cleaned.is_empty() {
        "-".to_owned()
    } else {
        cleaned
    }
}

/// Syslog facility codes by name.
pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "authpriv" => 10,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::detection;

    #[test]
    fn cef_escapes_and_carries_the_ids() {
        let mut d = detection("192.0.2.10", &[2, 0, 3, 0]);
        d.algorithm = "cl=ass\\ic".to_owned();
        let id = ReportId::derive(&d.detection_id, "siem");
        let line = cef_line(&d, &id, &Protector::Plain);
        assert!(line.starts_with("CEF:0|relbot|relbot-reporter|"), "{line}");
        assert!(line.contains("|8|rt="), "{line}");
        assert!(line.contains(" src=192.0.2.10 "), "{line}");
        assert!(line.contains(&format!("externalId={id}")), "{line}");
        assert!(line.contains("cs2=cl\\=ass\\\\ic/1"), "{line}");
        assert!(line.contains("cs4=600s:2,900s:0,1800s:3,2400s:0"), "{line}");
        assert!(line.contains("cn1=3"), "{line}");
        let v6 = cef_line(&detection("2001:db8::1", &[1]), &id, &Protector::Plain);
        assert!(v6.contains("c6a2=2001:db8::1"), "{v6}");
    }

    #[test]
    fn rfc5424_header() {
        let header = SyslogHeader {
            facility: facility_code("local4").unwrap(),
            hostname: "sensor 1".to_owned(),
            app_name: "relbot-reporter".to_owned(),
        };
        let id = ReportId::from_bytes([1; 16]);
        let msg = rfc5424(&header, &id, "CEF:0|x");
        assert!(msg.starts_with("<164>1 "), "{msg}");
        assert!(
            msg.contains(" sensor1 relbot-reporter "),
            "spaces are not allowed in HOSTNAME: {msg}"
        );
        assert!(msg.ends_with(&format!(
            "detection [relbot@32473 reportId=\"{id}\"] CEF:0|x"
        )));
    }
}
