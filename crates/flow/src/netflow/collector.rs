//! [`Collector`]: the stateful decoder one ingest service (or file reader) keeps. It holds the
//! template cache, what options records said about each exporter (sampling, init time) and the
//! data sets waiting for their template, and turns datagrams into [`FlowRecord`]s.
//!
//! It does no I/O and keeps no clock: the caller passes the wall-clock time with each call and
//! counts what the returned [`DecodeReport`] says.

use std::net::SocketAddr;
use std::time::Duration;

use hashbrown::HashMap;

use super::error::DecodeError;
use super::pending::{Pending, PendingConfig, PendingSet};
use super::sampling::{DomainState, SamplingMode};
use super::template::{DomainKey, Template, TemplateCache, TemplateKey, TemplateKind};
use super::time::{to_record, Clock, Origin};
use super::{ipfix, v5, v9};
use crate::FlowRecord;

/// How a [`Collector`] keys, bounds and applies what it learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Key templates by the exporter's UDP source port as well as its address. Off by default:
    /// routers may change source port on restart, and templates should survive that; turn it
    /// on when several exporters share one address (NAT, several probes on one host).
    pub key_by_source_port: bool,
    /// Forget a template (and a domain's sampling/init-time state) when its exporter has not
    /// re-announced it for this long; `None` keeps templates until withdrawn.
    pub template_timeout: Option<Duration>,
    /// Most templates held across all exporters; new ones beyond are refused
    /// ([`DecodeError::TemplateCacheFull`]).
    pub max_templates: usize,
    /// Limits of the buffer for data that arrives before its template.
    pub pending: PendingConfig,
    /// Whether sampling rates scale the counters or are recorded.
    pub sampling: SamplingMode,
}

impl Default for CollectorConfig {
    /// Port not in the key, templates expire after 1 h without refresh, 65 536 templates,
    /// 4 MiB / 30 s pending buffer, sampling recorded.
    fn default() -> Self {
        Self {
            key_by_source_port: false,
            template_timeout: Some(Duration::from_secs(3600)),
            max_templates: 65_536,
            pending: PendingConfig::default(),
            sampling: SamplingMode::Record,
        }
    }
}

/// What was expired, by a call to [`Collector::expire`] or during a decode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Templates not refreshed within the template timeout.
    pub templates: usize,
    /// Held data sets whose template did not come in time.
    pub pending_sets: usize,
    /// Domains whose options state (sampling, init time) timed out.
    pub domains: usize,
}

/// What one call to [`Collector::decode`] did, for the caller to count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// NetFlow version of the datagram (5, 9, or 10 for IPFIX).
    pub version: u16,
    /// Header sequence number (of the last message, for a buffer of IPFIX messages), for loss
    /// detection per exporter and domain: v5 counts flows, v9 packets, IPFIX data records.
    pub sequence: u32,
    /// Observation domain (IPFIX), source id (v9) or `engine_type << 8 | engine_id` (v5).
    pub domain: u32,
    /// Flow records appended to the output, including `released` ones.
    pub records: usize,
    /// Of `records`, those decoded from sets that had waited for this datagram's templates.
    pub released: usize,
    /// Templates and options templates learned or refreshed.
    pub templates: usize,
    /// Templates withdrawn (IPFIX).
    pub withdrawn: usize,
    /// Options records read (sampling, init time).
    pub option_records: usize,
    /// Data sets held because their template is not known yet.
    pub buffered: usize,
    /// Parts of the datagram that were skipped, each with its reason; the rest was decoded.
    pub issues: Vec<DecodeError>,
    /// Expiry done on the way (at most once per second of `now_ms`).
    pub expired: ExpiryReport,
}

/// Everything a collector has learned from exporters.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub templates: TemplateCache,
    pub domains: HashMap<DomainKey, DomainState>,
    pub pending: Pending,
}

/// A NetFlow v5/v9/IPFIX decoder with memory: templates, options state and data waiting for
/// its template. See the [`netflow`](super) module docs.
#[derive(Debug)]
pub struct Collector {
    config: CollectorConfig,
    state: State,
    last_expiry_ms: i64,
}

impl Collector {
    /// A collector that knows nothing yet.
    pub fn new(config: CollectorConfig) -> Self {
        Self {
            config,
            state: State::default(),
            last_expiry_ms: i64::MIN,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    /// The templates learned so far.
    pub fn templates(&self) -> &TemplateCache {
        &self.state.templates
    }

    /// What options records said about a domain, if anything.
    pub fn domain(&self, key: &DomainKey) -> Option<&DomainState> {
        self.state.domains.get(key)
    }

    /// Data sets held for a template, and the bytes they count against the limit.
    pub fn pending(&self) -> (usize, usize) {
        (self.state.pending.len(), self.state.pending.bytes())
    }

    /// Decodes one datagram (or, for IPFIX, a buffer of consecutive messages) from `source`,
    /// appending flow records to `out`. `now_ms` is the wall-clock time of reception, ms since
    /// the Unix epoch; it drives template refresh, buffering and expiry.
    ///
    /// Errors are datagrams of which nothing could be used (no known version, bad or truncated
    /// header); nothing was appended then. Problems with single sets are listed in
    /// [`DecodeReport::issues`].
    pub fn decode(
        &mut self,
        source: SocketAddr,
        datagram: &[u8],
        now_ms: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<DecodeReport, DecodeError> {
        let version = super::be::u16_at(datagram, 0).ok_or(DecodeError::truncated(
            "NetFlow header",
            2,
            datagram.len(),
        ))?;
        let mut report = DecodeReport {
            version,
            ..DecodeReport::default()
        };
        if now_ms.saturating_sub(self.last_expiry_ms) >= 1000 {
            report.expired = self.expire(now_ms);
        }
        let port = if self.config.key_by_source_port {
            source.port()
        } else {
            0
        };
        let mut decoding = Decoding {
            state: &mut self.state,
            config: &self.config,
            exporter: source.ip(),
            port,
            now_ms,
            out,
            report: &mut report,
        };
        match version {
            5 => {
                let n = v5::decode_v5(
                    datagram,
                    Some(source.ip()),
                    self.config.sampling,
                    decoding.out,
                )?;
                decoding.report.records = n;
                decoding.report.sequence = super::be::u32_at(datagram, 16).unwrap_or(0);
                decoding.report.domain = u32::from(super::be::u16_at(datagram, 20).unwrap_or(0));
            }
            9 => v9::decode(&mut decoding, datagram)?,
            10 => ipfix::decode(&mut decoding, datagram)?,
            version => return Err(DecodeError::BadVersion { version }),
        }
        Ok(report)
    }

    /// Forgets templates and domain state not refreshed within the template timeout, and held
    /// data sets older than the pending age limit. [`Collector::decode`] calls this at most
    /// once per second; a service may also call it from a timer.
    pub fn expire(&mut self, now_ms: i64) -> ExpiryReport {
        self.last_expiry_ms = now_ms;
        let mut report = ExpiryReport::default();
        if let Some(timeout) = self.config.template_timeout {
            let cutoff = now_ms.saturating_sub(duration_ms(timeout));
            report.templates = self.state.templates.expire(cutoff);
            let before = self.state.domains.len();
            self.state.domains.retain(|_, d| d.updated_ms >= cutoff);
            report.domains = before - self.state.domains.len();
        }
        let cutoff = now_ms.saturating_sub(duration_ms(self.config.pending.max_age));
        report.pending_sets = self.state.pending.expire(cutoff);
        report
    }

    /// Everything learned, encoded for [`crate::netflow::persist`] (templates, sampling and
    /// init times; held data sets are not saved).
    pub fn save_state(&self) -> Vec<u8> {
        super::persist::encode(&self.state.templates, &self.state.domains)
    }

    /// What several collectors learned, encoded as one state (as [`Collector::save_state`]),
    /// for a service that shards exporters over collectors; where two know the same template,
    /// the most recently refreshed one wins. Restore it into each shard.
    pub fn save_states<'a>(collectors: impl IntoIterator<Item = &'a Collector>) -> Vec<u8> {
        let mut templates = TemplateCache::new();
        let mut domains: HashMap<DomainKey, DomainState> = HashMap::new();
        for c in collectors {
            for (key, cached) in c.state.templates.iter() {
                let newer = templates
                    .refreshed_ms(key)
                    .is_none_or(|have| have < cached.refreshed_ms);
                if newer {
                    templates.restore(*key, cached.clone());
                }
            }
            for (key, state) in &c.state.domains {
                let newer = domains
                    .get(key)
                    .is_none_or(|have| have.updated_ms < state.updated_ms);
                if newer {
                    domains.insert(*key, state.clone());
                }
            }
        }
        super::persist::encode(&templates, &domains)
    }

    /// Replaces what the collector knows with saved state. On error the collector is left as
    /// it was.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<usize, super::persist::StateError> {
        let (templates, domains) = super::persist::decode(bytes)?;
        let n = templates.len();
        self.state.templates = templates;
        self.state.domains = domains;
        Ok(n)
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One decode call in progress: the state, where records go and what is reported.
pub(crate) struct Decoding<'a> {
    pub state: &'a mut State,
    pub config: &'a CollectorConfig,
    pub exporter: std::net::IpAddr,
    pub port: u16,
    pub now_ms: i64,
    pub out: &'a mut Vec<FlowRecord>,
    pub report: &'a mut DecodeReport,
}

impl Decoding<'_> {
    /// The domain key of this datagram's exporter.
    pub(crate) fn domain_key(&self, protocol: super::Protocol, domain: u32) -> DomainKey {
        DomainKey {
            exporter: self.exporter,
            port: self.port,
            protocol,
            domain,
        }
    }

    /// Learns a template (or records why not) and decodes the sets that waited for it.
    pub(crate) fn template(&mut self, key: TemplateKey, template: Result<Template, DecodeError>) {
        let template = match template {
            Ok(t) => t,
            Err(e) => {
                self.report.issues.push(e);
                return;
            }
        };
        match self
            .state
            .templates
            .insert(key, template, self.now_ms, self.config.max_templates)
        {
            Ok(_) => {
                self.report.templates += 1;
                if self.state.pending.len() > 0 {
                    for set in self.state.pending.take(&key) {
                        let before = self.report.records;
                        self.decode_known(&set.key, &set.clock, set.origin, &set.body);
                        self.report.released += self.report.records - before;
                    }
                }
            }
            Err(e) => self.report.issues.push(e),
        }
    }

    /// Withdraws one template, or all data (`template_id` 2) or options (3) templates of the
    /// domain (IPFIX).
    pub(crate) fn withdraw(&mut self, key: TemplateKey) {
        let n = match key.template_id {
            2 => self.state.templates.withdraw_all(&key.domain, false),
            3 => self.state.templates.withdraw_all(&key.domain, true),
            _ => usize::from(self.state.templates.withdraw(&key)),
        };
        self.report.withdrawn += n;
    }

    /// Decodes a data set, or holds it until its template comes.
    pub(crate) fn data_set(&mut self, key: TemplateKey, clock: Clock, origin: Origin, body: &[u8]) {
        if self.state.templates.get(&key).is_some() {
            self.decode_known(&key, &clock, origin, body);
            return;
        }
        let set = PendingSet {
            key,
            clock,
            origin,
            body: body.to_vec(),
            arrived_ms: self.now_ms,
        };
        let template_id = key.template_id;
        match self.state.pending.push(set, &self.config.pending) {
            Ok(dropped) => {
                self.report.buffered += 1;
                self.report
                    .issues
                    .push(DecodeError::UnknownTemplateBuffered { template_id });
                self.report.issues.extend(
                    dropped
                        .into_iter()
                        .map(|template_id| DecodeError::PendingOverflow { template_id }),
                );
            }
            Err(_) => self
                .report
                .issues
                .push(DecodeError::UnknownTemplate { template_id }),
        }
    }

    /// Decodes a data set whose template is in the cache.
    fn decode_known(&mut self, key: &TemplateKey, clock: &Clock, origin: Origin, body: &[u8]) {
        let State {
            templates, domains, ..
        } = &mut *self.state;
        let Some(template) = templates.get(key) else {
            return;
        };
        let result = match template.kind() {
            TemplateKind::Options { .. } => {
                let now_ms = self.now_ms;
                let limit = self.config.max_templates;
                let mut learned = 0;
                let result = template.for_each_record(body, |fields| {
                    learned += 1;
                    if let Some(state) = domains.get_mut(&key.domain) {
                        state.learn(fields, now_ms);
                    } else if domains.len() < limit {
                        let mut state = DomainState::default();
                        if state.learn(fields, now_ms) {
                            domains.insert(key.domain, state);
                        }
                    }
                });
                self.report.option_records += learned;
                result
            }
            TemplateKind::Data => {
                let domain = domains.get(&key.domain);
                let init_ms = domain.and_then(|d| d.system_init_ms);
                let sampling = self.config.sampling;
                let out = &mut *self.out;
                let mut missing_init = false;
                let mut pushed = 0;
                let result = template.for_each_record(body, |fields| {
                    pushed += 1;
                    let (mut record, missing) = to_record(fields, clock, init_ms, origin);
                    missing_init |= missing;
                    let rate = match domain {
                        Some(d) => d.rate_for(fields),
                        None => fields.own_sampling_rate(),
                    };
                    sampling.apply(rate, &mut record);
                    out.push(record);
                });
                self.report.records += pushed;
                if missing_init {
                    self.report.issues.push(DecodeError::NoSystemInitTime {
                        template_id: key.template_id,
                    });
                }
                result
            }
        };
        if let Err(e) = result {
            self.report.issues.push(e);
        }
    }
}
