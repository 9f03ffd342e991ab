//! Crypto-PAn: keyed, prefix-preserving pseudonymisation of IP addresses (Xu, Fan, Ammar,
//! Moon, "Prefix-preserving IP address anonymization", ICNP 2002).
//!
//! The 32-byte key is split: bytes 0..16 are an AES-128 key `K`, bytes 16..32 a seed whose
//! encryption `P = AES_K(seed)` is the padding. For bit `i` of an address (most significant
//! first), the block `first i bits of the address ‖ the remaining bits of P` is encrypted and
//! the most significant bit of the result is XORed into bit `i`. Bit `i` of the output thus
//! depends only on bits `0..i` of the input: two addresses sharing a k-bit prefix share a
//! k-bit prefix afterwards, and the mapping is a bijection, stable for a key.
//!
//! IPv4 uses the first 32 bits of the 128-bit block (the original reference implementation;
//! tested against its published sample trace). IPv6 runs the same construction over all 128
//! bits, as the widely used implementations do (yacryptopan, Yawning Angel's Go package); the
//! tests pin it to their published vectors.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;

/// A Crypto-PAn instance for one key.
#[derive(Clone)]
pub struct CryptoPan {
    cipher: Aes128,
    pad: u128,
}

impl fmt::Debug for CryptoPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CryptoPan(<key redacted>)")
    }
}

impl CryptoPan {
    /// The instance for a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        let cipher = Aes128::new(GenericArray::from_slice(&key[..16]));
        let mut pad = GenericArray::clone_from_slice(&key[16..]);
        cipher.encrypt_block(&mut pad);
        Self {
            cipher,
            pad: u128::from_be_bytes(pad.into()),
        }
    }

    /// The pseudonym of `ip` (same family).
    pub fn pseudonymise(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => IpAddr::V4(self.v4(v4)),
            IpAddr::V6(v6) => IpAddr::V6(self.v6(v6)),
        }
    }

    /// The pseudonym of an IPv4 address.
    pub fn v4(&self, ip: Ipv4Addr) -> Ipv4Addr {
        let flips = self.flips(u128::from(u32::from(ip)) << 96, 32);
        Ipv4Addr::from(u32::from(ip) ^ (flips >> 96) as u32)
    }

    /// The pseudonym of an IPv6 address.
    pub fn v6(&self, ip: Ipv6Addr) -> Ipv6Addr {
        let addr = u128::from(ip);
        Ipv6Addr::from(addr ^ self.flips(addr, 128))
    }

    /// The flip bits for the first `bits` bits of `addr` (left-aligned in 128 bits), returned
    /// left-aligned.
    fn flips(&self, addr: u128, bits: u32) -> u128 {
        let mut result = 0u128;
        for i in 0..bits {
            // First i bits of the address, then the padding's remaining bits.
            let keep = if i == 0 { 0 } else { u128::MAX << (128 - i) };
            let input = (addr & keep) | (self.pad & !keep);
            let mut block = GenericArray::from(input.to_be_bytes());
            self.cipher.encrypt_block(&mut block);
            let bit = u128::from(block[0] >> 7);
            result |= bit << (127 - i);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the Crypto-PAn reference distribution's sample.
    const SAMPLE_KEY: [u8; 32] = [
        21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143, 131,
        121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
    ];

    /// Pairs from the reference distribution's `sample_trace_raw.dat` and
    /// `sample_trace_sanitized.dat` (a subset).
    const SAMPLE_V4: &[(&str, &str)] = &[
        ("128.11.68.132", "135.242.180.132"),
        ("129.118.74.4", "134.136.186.123"),
        ("130.132.252.244", "133.68.164.234"),
        ("141.223.7.43", "141.167.8.160"),
        ("141.233.145.108", "141.129.237.235"),
        ("152.163.225.39", "151.140.114.167"),
        ("156.29.3.236", "147.225.12.42"),
        ("165.247.96.84", "162.9.99.234"),
        ("166.107.77.190", "160.132.178.185"),
        ("192.102.249.13", "252.138.62.131"),
        ("192.215.32.125", "252.43.47.189"),
        ("192.233.80.103", "252.25.108.8"),
        ("192.41.57.43", "252.222.221.184"),
        ("193.150.244.223", "253.169.52.216"),
        ("195.205.63.100", "255.186.223.5"),
        ("198.200.171.101", "249.199.68.213"),
        ("198.26.132.101", "249.36.123.202"),
        ("198.36.213.5", "249.7.21.132"),
        ("198.51.77.238", "249.18.186.254"),
        ("199.217.79.101", "248.38.184.213"),
        ("202.49.198.20", "245.206.7.234"),
        ("203.12.160.252", "244.248.163.4"),
        ("204.184.162.189", "243.192.77.90"),
        ("204.202.136.230", "243.178.4.198"),
        ("204.29.20.4", "243.33.20.123"),
        ("205.178.38.67", "242.108.198.51"),
        ("205.188.147.153", "242.96.16.101"),
        ("205.188.248.25", "242.96.88.27"),
        ("205.245.121.43", "242.21.121.163"),
        ("207.105.49.5", "241.118.205.138"),
        ("207.135.65.238", "241.202.129.222"),
        ("207.155.9.214", "241.220.250.22"),
        ("207.188.7.45", "241.255.249.220"),
        ("207.25.71.27", "241.33.119.156"),
        ("207.33.151.131", "241.1.233.131"),
        ("208.147.89.59", "227.237.98.191"),
        ("208.234.120.210", "227.154.67.17"),
        ("208.28.185.184", "227.39.94.90"),
        ("208.52.56.122", "227.8.63.165"),
        ("209.12.231.7", "226.243.167.8"),
        ("209.238.72.3", "226.6.119.243"),
        ("209.246.74.109", "226.22.124.76"),
        ("209.68.60.238", "226.184.220.233"),
        ("209.85.249.6", "226.170.70.6"),
        ("212.120.124.31", "228.135.163.231"),
        ("212.146.8.236", "228.19.4.234"),
        ("212.186.227.154", "228.59.98.98"),
        ("212.204.172.118", "228.71.195.169"),
        ("212.206.130.201", "228.69.242.193"),
        ("216.148.237.145", "235.84.194.111"),
        ("216.157.30.252", "235.89.31.26"),
        ("216.184.159.48", "235.96.225.78"),
        ("216.227.10.221", "235.28.253.36"),
        ("216.254.18.172", "235.7.16.162"),
        ("216.32.132.250", "235.192.139.38"),
        ("216.35.217.178", "235.195.157.81"),
        ("24.0.250.221", "100.15.198.226"),
        ("24.13.62.231", "100.2.192.247"),
        ("24.14.213.138", "100.1.42.141"),
        ("24.5.0.80", "100.9.15.210"),
        ("24.7.198.88", "100.10.6.25"),
        ("24.94.26.44", "100.88.228.35"),
        ("38.15.67.68", "64.3.66.187"),
        ("4.3.88.225", "124.60.155.63"),
        ("63.14.55.111", "95.9.215.7"),
        ("63.195.241.44", "95.179.238.44"),
        ("63.97.7.140", "95.97.9.123"),
        ("64.14.118.196", "0.255.183.58"),
        ("64.34.154.117", "0.221.154.117"),
        ("64.39.15.238", "0.219.7.41"),
    ];

    fn check(key: &[u8; 32], pairs: &[(&str, &str)]) {
        let pan = CryptoPan::new(key);
        for (raw, expected) in pairs {
            let raw: IpAddr = raw.parse().unwrap();
            let expected: IpAddr = expected.parse().unwrap();
            assert_eq!(pan.pseudonymise(raw), expected, "{raw}");
        }
    }

    #[test]
    fn reference_sample_trace_ipv4() {
        check(&SAMPLE_KEY, SAMPLE_V4);
    }

    #[test]
    fn published_ipv6_vectors() {
        // Yawning Angel's Go package, with the sample key.
        check(
            &SAMPLE_KEY,
            &[
                ("::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"),
                ("::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"),
                ("::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"),
                ("2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"),
                ("2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"),
            ],
        );
        // yacryptopan's README and self-test.
        check(
            b"32-char-str-for-AES-key-and-pad.",
            &[
                ("192.0.2.1", "192.0.125.244"),
                ("2001:db8::1", "27fe:8bc7:fee:1e:1e1f:f0fe:f0e1:83fd"),
            ],
        );
        let mut counting = [0u8; 32];
        for (i, b) in counting.iter_mut().enumerate() {
            *b = i as u8;
        }
        check(
            &counting,
            &[
                ("192.0.2.1", "2.90.93.17"),
                ("2001:db8::1", "dd92:2c44:3fc0:ff1e:7ff9:c7f0:8180:7e00"),
            ],
        );
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(
            format!("{:?}", CryptoPan::new(&SAMPLE_KEY)),
            "CryptoPan(<key redacted>)"
        );
    }
}
