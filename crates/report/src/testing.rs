//! Detections for tests and benchmarks (also used by the end-to-end tests).

use std::net::IpAddr;

use relbot_codec::{Detection, DetectionId, Evidence, PeriodResult};

/// Event time of the test detections' windows: 2024-01-01T00:00:00Z, ms since the epoch.
pub const BASE_MS: i64 = 1_704_067_200_000;

/// The seed's candidate periods, ms.
pub const PERIODS_MS: [i64; 4] = [600_000, 900_000, 1_800_000, 2_400_000];

/// A valid detection of `host` with the given count per candidate period (the seed's four),
/// a one-hour window starting at [`BASE_MS`], score `0.5 + 0.1 * max count` (capped at 1),
/// confidence 0.9, and its computed id.
#[allow(clippy::expect_used, reason = "test helper with literal input")]
pub fn detection(host: &str, counts: &[u32]) -> Detection {
    let host: IpAddr = host.parse().expect("a literal address");
    let periods = PERIODS_MS
        .iter()
        .zip(counts.iter().chain(std::iter::repeat(&0)))
        .map(|(&period_ms, &count)| PeriodResult {
            period_ms,
            count,
            peers: (0..count.min(8))
                .map(|i| IpAddr::from([198, 51, 100, i as u8 + 1]))
                .collect(),
            peer_confidence: None,
        })
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    Detection {
        detection_id: DetectionId::from_bytes([0; 16]),
        host,
        window_start_ms: BASE_MS,
        window_end_ms: BASE_MS + 3_600_000,
        algorithm: "classic".to_owned(),
        algorithm_version: "1".to_owned(),
        periods,
        score: (0.5 + 0.1 * f64::from(max)).min(1.0),
        confidence: 0.9,
        evidence: Evidence {
            flows_seen: 100,
            pairs_evaluated: 10,
            first_flow_ms: BASE_MS + 1_000,
            last_flow_ms: BASE_MS + 3_000_000,
        },
        emitted_at_ms: BASE_MS + 3_700_000,
    }
    .with_computed_id()
}
