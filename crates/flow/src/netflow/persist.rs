//! Saving what a [`Collector`](super::Collector) learned (templates, sampling rates, system
//! init times) so that a restarted service decodes at once instead of dropping or holding data
//! until every router has re-sent its templates.
//!
//! Format (big-endian), version 1:
//!
//! ```text
//! magic "RBTS" | version u16 | templates u32 | domains u32
//! template: domain key | template id u16 | kind u8 (0 data, 1 options) | scope fields u16
//!           | refreshed ms i64 | field count u16 | (id u16, length u16, enterprise u32) × count
//! domain:   domain key | flags u8 (1 init, 2 default rate) | init ms i64 | default rate u32
//!           | updated ms i64 | sampler count u8 | (id u64, rate u32) × count
//! domain key: family u8 (4 or 6) | address 4 or 16 | port u16 | protocol u8 (9 or 10) | domain u32
//! trailer: FNV-1a 64 of everything before it
//! ```
//!
//! [`Collector::save_state`](super::Collector::save_state) and
//! [`Collector::restore_state`](super::Collector::restore_state) encode and decode (pure);
//! [`save`] writes a file atomically (temporary file, then rename) and [`load`] reads one. A damaged or foreign file is a [`StateError`], never a
//! panic: the service should then start empty and say so.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use super::sampling::{DomainState, MAX_SAMPLERS};
use super::template::{
    CachedTemplate, DomainKey, FieldSpec, Protocol, Template, TemplateCache, TemplateKey,
    TemplateKind,
};

const MAGIC: &[u8; 4] = b"RBTS";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;

/// Why saved state could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The data does not start with the magic bytes: not a relbot state file.
    #[error("not a relbot template state file (bad magic)")]
    BadMagic,
    /// Written by a newer (or unknown) version of the format.
    #[error("unsupported template state version {found} (this build reads {VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// The data ends early: the file was cut (disk full, crash during a non-atomic copy).
    #[error("template state truncated")]
    Truncated,
    /// The checksum does not match: the file was damaged.
    #[error("template state checksum mismatch")]
    Checksum,
    /// A value is impossible (bad address family, bad template…).
    #[error("invalid template state: {0}")]
    Invalid(&'static str),
}

/// Reading or writing a state file failed.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The state file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is there but its content is unusable.
    #[error("{}: {source}", .path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        source: StateError,
    },
}

/// Encodes templates and domain state.
pub(crate) fn encode(
    templates: &TemplateCache,
    domains: &HashMap<DomainKey, DomainState>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + templates.len() * 128);
    out.extend(MAGIC);
    out.extend(VERSION.to_be_bytes());
    out.extend((templates.len() as u32).to_be_bytes());
    out.extend((domains.len() as u32).to_be_bytes());
    let mut entries: Vec<_> = templates.iter().collect();
    entries.sort_by_key(|(k, _)| **k);
    for (key, cached) in entries {
        put_domain(&mut out, &key.domain);
        out.extend(key.template_id.to_be_bytes());
        let t = &cached.template;
        let (kind, scope) = match t.kind() {
            TemplateKind::Data => (0u8, 0u16),
            TemplateKind::Options { scope_fields } => (1, scope_fields),
        };
        out.push(kind);
        out.extend(scope.to_be_bytes());
        out.extend(cached.refreshed_ms.to_be_bytes());
        out.extend((t.fields().len() as u16).to_be_bytes());
        for f in t.fields() {
            out.extend(f.id.to_be_bytes());
            out.extend(f.length.to_be_bytes());
            out.extend(f.enterprise.to_be_bytes());
        }
    }
    let mut domain_entries: Vec<_> = domains.iter().collect();
    domain_entries.sort_by_key(|(k, _)| **k);
    for (key, state) in domain_entries {
        put_domain(&mut out, key);
        let flags =
            u8::from(state.system_init_ms.is_some()) | u8::from(state.default_rate.is_some()) << 1;
        out.push(flags);
        out.extend(state.system_init_ms.unwrap_or(0).to_be_bytes());
        out.extend(state.default_rate.unwrap_or(0).to_be_bytes());
        out.extend(state.updated_ms.to_be_bytes());
        let samplers = &state.samplers[..state.samplers.len().min(MAX_SAMPLERS)];
        out.push(samplers.len() as u8);
        for (id, rate) in samplers {
            out.extend(id.to_be_bytes());
            out.extend(rate.to_be_bytes());
        }
    }
    let checksum = fnv1a(&out);
    out.extend(checksum.to_be_bytes());
    out
}

fn put_domain(out: &mut Vec<u8>, key: &DomainKey) {
    match key.exporter {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend(a.octets());
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend(a.octets());
        }
    }
    out.extend(key.port.to_be_bytes());
    out.push(match key.protocol {
        Protocol::V9 => 9,
        Protocol::Ipfix => 10,
    });
    out.extend(key.domain.to_be_bytes());
}

/// Templates and domain state, as [`decode`] returns them.
pub(crate) type Decoded = (TemplateCache, HashMap<DomainKey, DomainState>);

/// Decodes what [`encode`] wrote.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, StateError> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(StateError::BadMagic);
    }
    let mut r = Reader { bytes, at: 4 };
    let version = r.u16()?;
    if version != VERSION {
        return Err(StateError::UnsupportedVersion { found: version });
    }
    let body_len = bytes.len().checked_sub(8).ok_or(StateError::Truncated)?;
    if body_len < 14 {
        return Err(StateError::Truncated);
    }
    let stored = u64::from_be_bytes(
        bytes[body_len..]
            .try_into()
            .map_err(|_| StateError::Truncated)?,
    );
    if fnv1a(&bytes[..body_len]) != stored {
        return Err(StateError::Checksum);
    }
    let mut r = Reader {
        bytes: &bytes[..body_len],
        at: 6,
    };
    let n_templates = r.u32()?;
    let n_domains = r.u32()?;
    let mut templates = TemplateCache::new();
    for _ in 0..n_templates {
        let domain = r.domain()?;
        let template_id = r.u16()?;
        let kind = match (r.u8()?, r.u16()?) {
            (0, _) => TemplateKind::Data,
            (1, scope_fields) => TemplateKind::Options { scope_fields },
            _ => return Err(StateError::Invalid("template kind")),
        };
        let refreshed_ms = r.i64()?;
        let count = usize::from(r.u16()?);
        let mut fields = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            fields.push(FieldSpec {
                id: r.u16()?,
                length: r.u16()?,
                enterprise: r.u32()?,
            });
        }
        let template = Template::new(domain.protocol, template_id, kind, fields)
            .map_err(|_| StateError::Invalid("template"))?;
        templates.restore(
            TemplateKey {
                domain,
                template_id,
            },
            CachedTemplate {
                template,
                refreshed_ms,
            },
        );
    }
    let mut domains = HashMap::new();
    for _ in 0..n_domains {
        let key = r.domain()?;
        let flags = r.u8()?;
        let init = r.i64()?;
        let rate = r.u32()?;
        let updated_ms = r.i64()?;
        let count = usize::from(r.u8()?);
        let mut samplers = Vec::with_capacity(count);
        for _ in 0..count {
            samplers.push((r.u64()?, r.u32()?));
        }
        domains.insert(
            key,
            DomainState {
                system_init_ms: (flags & 1 != 0).then_some(init),
                default_rate: (flags & 2 != 0).then_some(rate),
                samplers,
                updated_ms,
            },
        );
    }
    if r.at != r.bytes.len() {
        return Err(StateError::Invalid("trailing bytes"));
    }
    Ok((templates, domains))
}

/// Writes `state` (from [`Collector::save_state`](super::Collector::save_state)) to `path`
/// atomically: a temporary file beside it, synced, then renamed over it.
pub fn save(path: &Path, state: &[u8]) -> Result<(), PersistError> {
    let io = |source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(state).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a state file and checks it. A missing file is `Ok(None)` (first start).
pub fn load(path: &Path) -> Result<Option<Vec<u8>>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    decode(&bytes).map_err(|source| PersistError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(bytes))
}

/// Checks saved state without using it (for `--check` and tests).
pub fn validate(bytes: &[u8]) -> Result<usize, StateError> {
    decode(bytes).map(|(t, _)| t.len())
}

/// FNV-1a, 64 bit: enough to catch damage, no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let end = self.at.checked_add(N).ok_or(StateError::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(StateError::Truncated)?;
        self.at = end;
        slice.try_into().map_err(|_| StateError::Truncated)
    }
    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, StateError> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Result<u32, StateError> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Result<u64, StateError> {
        self.take().map(u64::from_be_bytes)
    }
    fn i64(&mut self) -> Result<i64, StateError> {
        self.take().map(i64::from_be_bytes)
    }
    fn domain(&mut self) -> Result<DomainKey, StateError> {
        let exporter = match self.u8()? {
            4 => IpAddr::from(self.take::<4>()?),
            6 => IpAddr::from(self.take::<16>()?),
            _ => return Err(StateError::Invalid("address family")),
        };
        let port = self.u16()?;
        let protocol = match self.u8()? {
            9 => Protocol::V9,
            10 => Protocol::Ipfix,
            _ => return Err(StateError::Invalid("protocol")),
        };
        Ok(DomainKey {
            exporter,
            port,
            protocol,
            domain: self.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Decoded {
        let mut templates = TemplateCache::new();
        let domain = DomainKey {
            exporter: "2001:db8::1".parse().unwrap(),
            port: 4739,
            protocol: Protocol::Ipfix,
            domain: 42,
        };
        let fields = vec![
            FieldSpec {
                id: 8,
                length: 4,
                enterprise: 0,
            },
            FieldSpec {
                id: 100,
                length: 0xffff,
                enterprise: 9,
            },
        ];
        let t = Template::new(Protocol::Ipfix, 300, TemplateKind::Data, fields).unwrap();
        let key = TemplateKey {
            domain,
            template_id: 300,
        };
        templates.insert(key, t, 1234, 10).unwrap();
        let mut domains = HashMap::new();
        domains.insert(
            domain,
            DomainState {
                system_init_ms: Some(99),
                default_rate: None,
                samplers: vec![(7, 100)],
                updated_ms: 5,
            },
        );
        (templates, domains)
    }

    #[test]
    fn round_trip() {
        let (templates, domains) = sample();
        let bytes = encode(&templates, &domains);
        let (t2, d2) = decode(&bytes).unwrap();
        assert_eq!(t2.len(), 1);
        let (k, c) = templates.iter().next().unwrap();
        let (k2, c2) = t2.iter().next().unwrap();
        assert_eq!((k, c), (k2, c2));
        assert_eq!(d2, domains);
        assert_eq!(validate(&bytes), Ok(1));
    }

    #[test]
    fn damage_is_a_typed_error() {
        let (templates, domains) = sample();
        let bytes = encode(&templates, &domains);
        assert_eq!(decode(b"nope").unwrap_err(), StateError::BadMagic);
        let mut newer = bytes.clone();
        newer[5] = 2;
        assert_eq!(
            decode(&newer).unwrap_err(),
            StateError::UnsupportedVersion { found: 2 }
        );
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert_eq!(decode(&flipped).unwrap_err(), StateError::Checksum);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("templates.state");
        assert!(load(&path).unwrap().is_none());
        let (templates, domains) = sample();
        save(&path, &encode(&templates, &domains)).unwrap();
        assert!(load(&path).unwrap().is_some());
        std::fs::write(&path, b"RBTS\0\x01garbage").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("templates.state"));
    }
}
