//! Monitored networks: which flow initiators are hosts relbot keeps (ingest filters on them,
//! the engine keeps state for them). `ADDRESS[/PREFIX]` lists from configuration.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A monitored network that is not an address or `ADDRESS/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("monitored network {text:?}: {problem}")]
pub struct NetworkError {
    /// The text as given (at most 64 characters of it).
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// One network, `ADDRESS/PREFIX` (a bare address is a /32 or /128).
///
/// IPv4 networks match IPv4 addresses only and IPv6 networks IPv6 addresses only (an
/// IPv4-mapped IPv6 address is an IPv6 address here, as it is everywhere else in relbot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address, host bits cleared.
    addr: IpAddr,
    /// Prefix length, bits.
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` bits; host bits are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, NetworkError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(NetworkError {
                text: format!("{addr}/{prefix}"),
                problem: "prefix longer than the address",
            });
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(prefix)).into()),
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                u32::from(a) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |problem| NetworkError {
            text: text.chars().take(64).collect(),
            problem,
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let prefix = match prefix {
            None if addr.is_ipv4() => 32,
            None => 128,
            Some(p) => p.parse::<u8>().map_err(|_| bad("prefix is not a number"))?,
        };
        Self::new(addr, prefix).map_err(|_| bad("prefix longer than the address"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A list of monitored networks; the empty list monitors every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks {
    list: Vec<Cidr>,
}

impl Networks {
    /// Every address is monitored.
    pub fn all() -> Self {
        Self::default()
    }

    /// Exactly these networks are monitored (all addresses when `list` is empty).
    pub fn new(list: Vec<Cidr>) -> Self {
        Self { list }
    }

    /// Parses `ADDRESS[/PREFIX]` entries, e.g. from a config file.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, NetworkError> {
        entries
            .iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// Whether `ip` is monitored.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.list.is_empty() || self.list.iter().any(|c| c.contains(ip))
    }

    /// The networks (empty: all addresses).
    pub fn list(&self) -> &[Cidr] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix_and_family() {
        let n = Networks::parse(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]).unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("192.0.2.7")) && !n.contains(ip("192.0.2.8")));
        assert!(n.contains(ip("2001:db8:1::5")) && !n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("::ffff:10.0.0.1")));
        assert!(Networks::all().contains(ip("203.0.113.9")));
        let zero: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(zero.contains(ip("1.2.3.4")) && !zero.contains(ip("::1")));
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn bad_networks_are_errors() {
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
