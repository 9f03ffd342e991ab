//! Address protection per sink: `plain` (the address), `anon` (truncated to a prefix, not
//! reversible) or `pseudo` (Crypto-PAn, keyed and prefix-preserving: stable for a key, so
//! analysts can still group by subnet; reversible only by the key holder). CCH's `src_mode`
//! says which was used.
//!
//! ```toml
//! [sinks.cch.protection]
//! mode = "anon"        # "plain" (default), "anon" or "pseudo"
//! ipv4_prefix = 24     # anon: bits kept (default 24)
//! ipv6_prefix = 48     # anon: bits kept (default 48)
//!
//! [sinks.soc.protection]
//! mode = "pseudo"
//! key_env = "RELBOT_PSEUDO_KEY"   # or key_file: 64 hex digits (32 bytes), e.g. `openssl rand -hex 32`
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use relbot_codec::SrcMode;
use serde::{Deserialize, Serialize};

use crate::cryptopan::CryptoPan;
use crate::error::ReportError;
use crate::secret;

/// How a sink discloses addresses (configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum ProtectionConfig {
    /// The address itself.
    #[default]
    Plain,
    /// Truncation to a prefix: the host bits are zeroed.
    Anon {
        /// IPv4 bits kept, 0..=32.
        #[serde(default = "default_v4_prefix")]
        ipv4_prefix: u8,
        /// IPv6 bits kept, 0..=128.
        #[serde(default = "default_v6_prefix")]
        ipv6_prefix: u8,
    },
    /// Crypto-PAn with a 32-byte key given as 64 hex digits.
    Pseudo {
        /// Environment variable holding the key.
        #[serde(default)]
        key_env: Option<String>,
        /// File holding the key (e.g. a mounted secret).
        #[serde(default)]
        key_file: Option<PathBuf>,
    },
}

fn default_v4_prefix() -> u8 {
    24
}

fn default_v6_prefix() -> u8 {
    48
}

impl ProtectionConfig {
    /// Problems, naming keys under `at` (e.g. `sinks.cch.protection`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        match self {
            Self::Plain => Vec::new(),
            Self::Anon {
                ipv4_prefix,
                ipv6_prefix,
            } => {
                let mut problems = Vec::new();
                if *ipv4_prefix > 32 {
                    problems.push(format!("`{at}.ipv4_prefix` must be 0..=32"));
                }
                if *ipv6_prefix > 128 {
                    problems.push(format!("`{at}.ipv6_prefix` must be 0..=128"));
                }
                problems
            }
            Self::Pseudo { key_env, key_file } => {
                let mut problems = secret::problems(
                    &format!("{at}.key"),
                    key_env.as_deref(),
                    key_file.as_deref(),
                );
                if problems.is_empty() {
                    if let Err(e) = self.build(at) {
                        problems.push(e.to_string());
                    }
                }
                problems
            }
        }
    }

    /// The protector, reading the key of `pseudo`.
    pub fn build(&self, at: &str) -> Result<Protector, ReportError> {
        Ok(match self {
            Self::Plain => Protector::Plain,
            Self::Anon {
                ipv4_prefix,
                ipv6_prefix,
            } => Protector::Anon {
                ipv4_prefix: (*ipv4_prefix).min(32),
                ipv6_prefix: (*ipv6_prefix).min(128),
            },
            Self::Pseudo { key_env, key_file } => {
                let what = format!("{at}.key");
                let key = secret::resolve(&what, key_env.as_deref(), key_file.as_deref())?;
                let bytes = parse_key(key.expose()).ok_or_else(|| ReportError::Secret {
                    what,
                    reason: "the key must be 64 hex digits (32 bytes)".to_owned(),
                })?;
                Protector::Pseudo(Box::new(CryptoPan::new(&bytes)))
            }
        })
    }
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// Applies a sink's address protection.
#[derive(Debug, Clone)]
pub enum Protector {
    /// Addresses as they are.
    Plain,
    /// Truncation to a prefix.
    Anon {
        /// IPv4 bits kept.
        ipv4_prefix: u8,
        /// IPv6 bits kept.
        ipv6_prefix: u8,
    },
    /// Crypto-PAn.
    Pseudo(Box<CryptoPan>),
}

impl Protector {
    /// The protected form of `ip` (same family).
    pub fn apply(&self, ip: IpAddr) -> IpAddr {
        match (self, ip) {
            (Self::Plain, ip) => ip,
            (Self::Anon { ipv4_prefix, .. }, IpAddr::V4(v4)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(*ipv4_prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            (Self::Anon { ipv6_prefix, .. }, IpAddr::V6(v6)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(*ipv6_prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            (Self::Pseudo(pan), ip) => pan.pseudonymise(ip),
        }
    }

    /// The CCH `src_mode` of this protection.
    pub fn mode(&self) -> SrcMode {
        match self {
            Self::Plain => SrcMode::Plain,
            Self::Anon { .. } => SrcMode::Anon,
            Self::Pseudo(_) => SrcMode::Pseudo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_is_untouched() {
        for a in ["192.0.2.77", "2001:db8:1:2:3:4:5:6", "0.0.0.0", "::"] {
            assert_eq!(Protector::Plain.apply(ip(a)), ip(a));
        }
        assert_eq!(Protector::Plain.mode(), SrcMode::Plain);
    }

    #[test]
    fn anon_truncates_as_configured() {
        let default = ProtectionConfig::Anon {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        }
        .build("p")
        .unwrap();
        assert_eq!(default.apply(ip("192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(
            default.apply(ip("2001:db8:abcd:12:3:4:5:6")),
            ip("2001:db8:abcd::")
        );
        let odd = Protector::Anon {
            ipv4_prefix: 20,
            ipv6_prefix: 0,
        };
        assert_eq!(odd.apply(ip("10.1.255.255")), ip("10.1.240.0"));
        assert_eq!(odd.apply(ip("2001:db8::1")), ip("::"));
        let all = Protector::Anon {
            ipv4_prefix: 32,
            ipv6_prefix: 128,
        };
        assert_eq!(all.apply(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(default.mode(), SrcMode::Anon);
    }

    #[test]
    fn pseudo_needs_a_hex_key() {
        std::env::set_var("RELBOT_TEST_PSEUDO_BAD", "not hex");
        let config = ProtectionConfig::Pseudo {
            key_env: Some("RELBOT_TEST_PSEUDO_BAD".into()),
            key_file: None,
        };
        let problems = config.problems("sinks.x.protection");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("64 hex digits"), "{problems:?}");
        assert!(!problems[0].contains("not hex"), "{problems:?}");
    }

    #[test]
    fn anon_prefix_range_is_checked() {
        let config = ProtectionConfig::Anon {
            ipv4_prefix: 33,
            ipv6_prefix: 129,
        };
        assert_eq!(config.problems("p").len(), 2);
    }
}
