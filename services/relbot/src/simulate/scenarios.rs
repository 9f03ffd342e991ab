//! Named scenario presets (`relbot simulate --scenario NAME`): the rows of the quality matrix
//! in docs/DETECTION.md. Every preset keeps the realistic background and benign periodic
//! services and changes one thing about the bots (or the exporter).

use super::{BackgroundModel, BotModel, Scenario};

/// The presets: name and what it changes.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "realistic",
        "defaults: ±1 s jitter, 2 % lost beats, churn, no drift, always online",
    ),
    (
        "clean",
        "bots beat exactly on time: no jitter, no loss, no churn",
    ),
    ("jitter-2s", "±2 s uniform jitter per beat"),
    ("jitter-10s", "±10 s uniform jitter per beat"),
    (
        "drift-0.5s",
        "every period 0.5 s longer than nominal (clock drift)",
    ),
    ("drift-1s", "every period 1 s longer than nominal"),
    (
        "offline-restart",
        "bots offline half of the time, timer restarted on power-on",
    ),
    (
        "offline-resume",
        "bots offline half of the time, resuming their old schedule",
    ),
    ("two-peers", "every bot has only 2 peers"),
    (
        "heavy-background",
        "5× background traffic with a heavier tail and more long connections",
    ),
    (
        "replies-unfolded",
        "the peers' reply flows appear as separate flows B→A",
    ),
];

/// The scenario of preset `name` (window, hosts and seed are left at their defaults), or
/// `None` for an unknown name.
pub fn preset(name: &str) -> Option<Scenario> {
    let mut s = Scenario::default();
    let b: &mut BotModel = &mut s.bots;
    match name {
        "realistic" => {}
        "clean" => {
            b.jitter_ms = 0;
            b.loss = 0.0;
            b.churn_per_day = 0.0;
        }
        "jitter-2s" => b.jitter_ms = 2_000,
        "jitter-10s" => b.jitter_ms = 10_000,
        "drift-0.5s" => b.drift_ms = 500,
        "drift-1s" => b.drift_ms = 1_000,
        "offline-restart" => {
            b.offline = 0.5;
            b.restart = true;
        }
        "offline-resume" => {
            b.offline = 0.5;
            b.restart = false;
        }
        "two-peers" => b.peers = Some((2, 2)),
        "heavy-background" => {
            s.background = BackgroundModel {
                flows_per_host_hour: 200.0,
                activity_sigma: 1.6,
                long_share: 0.03,
                ..BackgroundModel::default()
            };
        }
        "replies-unfolded" => s.replies = true,
        _ => return None,
    }
    Some(s)
}
