//! What options records tell about an exporter: its sampling rate(s) and its system init time,
//! kept per [`DomainKey`](super::DomainKey).
//!
//! Sampling comes from options data (v9 SAMPLING_INTERVAL 34 / FLOW_SAMPLER_RANDOM_INTERVAL 50
//! with FLOW_SAMPLER_ID 48; IPFIX samplingInterval 34, samplingPacketInterval 305 and
//! samplingPacketSpace 306, with selectorId 302 or samplerId 48), from the data record itself,
//! or from the v5 header. A record naming a sampler id uses that sampler's rate; otherwise the
//! domain's rate from options without a sampler id applies.

use super::fields::Fields;

/// How a known sampling rate is applied to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SamplingMode {
    /// Keep bytes and packets as exported and put the rate in
    /// [`FlowRecord::sampling_rate`](crate::FlowRecord::sampling_rate) (the default: the record
    /// says exactly what the exporter said).
    #[default]
    Record,
    /// Multiply bytes and packets by the rate (saturating) and leave `sampling_rate` at 0, so
    /// that no consumer scales them again.
    Scale,
}

impl SamplingMode {
    /// Applies `rate` (1 in N) to a record's counters as configured.
    pub(crate) fn apply(self, rate: Option<u32>, record: &mut crate::FlowRecord) {
        let Some(rate) = rate.filter(|&r| r > 0) else {
            return;
        };
        match self {
            SamplingMode::Record => record.sampling_rate = rate,
            SamplingMode::Scale => {
                record.bytes = record.bytes.saturating_mul(u64::from(rate));
                record.packets = record.packets.saturating_mul(u64::from(rate));
                record.sampling_rate = 0;
            }
        }
    }
}

/// Samplers remembered per domain; more are ignored (no real exporter has this many).
pub(crate) const MAX_SAMPLERS: usize = 64;

/// What the options records of one domain said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainState {
    /// systemInitTimeMilliseconds (IE 160), ms since the Unix epoch.
    pub system_init_ms: Option<i64>,
    /// Sampling rate (1 in N) announced without a sampler id.
    pub default_rate: Option<u32>,
    /// Sampling rate by sampler/selector id.
    pub samplers: Vec<(u64, u32)>,
    /// When an options record last updated this state, ms since the Unix epoch.
    pub updated_ms: i64,
}

impl DomainState {
    /// Takes in one options record. Returns whether it carried anything relbot uses.
    pub(crate) fn learn(&mut self, fields: &Fields, now_ms: i64) -> bool {
        let mut used = false;
        if let Some(init) = fields.system_init_ms {
            self.system_init_ms = Some(init);
            used = true;
        }
        if let Some(rate) = fields.own_sampling_rate() {
            match fields.sampler_id {
                Some(id) => {
                    if let Some(slot) = self.samplers.iter_mut().find(|(s, _)| *s == id) {
                        slot.1 = rate;
                    } else if self.samplers.len() < MAX_SAMPLERS {
                        self.samplers.push((id, rate));
                    }
                }
                None => self.default_rate = Some(rate),
            }
            used = true;
        }
        if used {
            self.updated_ms = now_ms;
        }
        used
    }

    /// The sampling rate that applies to a data record.
    pub(crate) fn rate_for(&self, fields: &Fields) -> Option<u32> {
        if let Some(rate) = fields.own_sampling_rate() {
            return Some(rate);
        }
        if let Some(id) = fields.sampler_id {
            if let Some((_, rate)) = self.samplers.iter().find(|(s, _)| *s == id) {
                return Some(*rate);
            }
        }
        self.default_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlowRecord;

    #[test]
    fn learns_default_and_per_sampler_rates() {
        let mut state = DomainState::default();
        let options = Fields {
            sampling_interval: Some(100),
            ..Fields::default()
        };
        assert!(state.learn(&options, 1));
        let options = Fields {
            sampler_id: Some(3),
            packet_interval: Some(1),
            packet_space: Some(9),
            ..Fields::default()
        };
        assert!(state.learn(&options, 2));
        assert!(!state.learn(&Fields::default(), 3));
        assert_eq!(state.updated_ms, 2);
        assert_eq!(state.rate_for(&Fields::default()), Some(100));
        let with_id = Fields {
            sampler_id: Some(3),
            ..Fields::default()
        };
        assert_eq!(state.rate_for(&with_id), Some(10));
    }

    #[test]
    fn modes() {
        let mut record = FlowRecord {
            bytes: 10,
            packets: 2,
            ..FlowRecord::default()
        };
        SamplingMode::Record.apply(Some(100), &mut record);
        assert_eq!((record.bytes, record.sampling_rate), (10, 100));
        let mut record = FlowRecord {
            bytes: 10,
            packets: 2,
            ..FlowRecord::default()
        };
        SamplingMode::Scale.apply(Some(100), &mut record);
        assert_eq!(
            (record.bytes, record.packets, record.sampling_rate),
            (1000, 200, 0)
        );
        SamplingMode::Scale.apply(None, &mut record);
        assert_eq!(record.bytes, 1000);
    }
}
