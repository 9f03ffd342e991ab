//! Properties of address protection: `pseudo` is prefix-preserving, a bijection and stable for
//! a key (and differs between keys); `anon` keeps exactly the configured prefix; `plain` is
//! the identity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use relbot_report::cryptopan::CryptoPan;
use relbot_report::Protector;

fn common_prefix_v4(a: u32, b: u32) -> u32 {
    (a ^ b).leading_zeros()
}

fn common_prefix_v6(a: u128, b: u128) -> u32 {
    (a ^ b).leading_zeros()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pseudo_v4_preserves_exactly_the_common_prefix(key in any::<[u8; 32]>(), a in any::<u32>(), b in any::<u32>()) {
        let pan = CryptoPan::new(&key);
        let (pa, pb) = (u32::from(pan.v4(Ipv4Addr::from(a))), u32::from(pan.v4(Ipv4Addr::from(b))));
        // Same prefix length before and after: shared bits stay shared, the first differing
        // bit still differs (Crypto-PAn XORs both with the same flip bit there).
        prop_assert_eq!(common_prefix_v4(pa, pb), common_prefix_v4(a, b));
    }

    #[test]
    fn pseudo_v6_preserves_exactly_the_common_prefix(key in any::<[u8; 32]>(), a in any::<u128>(), shared in 0u32..=128, flip in any::<u128>()) {
        // b shares at least `shared` leading bits with a, to exercise long prefixes.
        let mask = if shared == 0 { 0 } else { u128::MAX << (128 - shared) };
        let b = (a & mask) | (flip & !mask);
        let pan = CryptoPan::new(&key);
        let (pa, pb) = (u128::from(pan.v6(Ipv6Addr::from(a))), u128::from(pan.v6(Ipv6Addr::from(b))));
        prop_assert_eq!(common_prefix_v6(pa, pb), common_prefix_v6(a, b));
    }

    #[test]
    fn pseudo_is_stable_for_a_key(key in any::<[u8; 32]>(), a in any::<u32>(), v6 in any::<u128>()) {
        let one = Protector::Pseudo(Box::new(CryptoPan::new(&key)));
        let two = Protector::Pseudo(Box::new(CryptoPan::new(&key)));
        for ip in [IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V6(Ipv6Addr::from(v6))] {
            let p = one.apply(ip);
            prop_assert_eq!(p, two.apply(ip));
            prop_assert_eq!(p.is_ipv4(), ip.is_ipv4());
        }
    }

    #[test]
    fn anon_keeps_the_configured_prefix(a in any::<u32>(), v6 in any::<u128>(), p4 in 0u8..=32, p6 in 0u8..=128) {
        let anon = Protector::Anon { ipv4_prefix: p4, ipv6_prefix: p6 };
        let IpAddr::V4(t4) = anon.apply(IpAddr::V4(Ipv4Addr::from(a))) else { unreachable!() };
        let IpAddr::V6(t6) = anon.apply(IpAddr::V6(Ipv6Addr::from(v6))) else { unreachable!() };
        let m4 = u32::MAX.checked_shl(32 - u32::from(p4)).unwrap_or(0);
        let m6 = u128::MAX.checked_shl(128 - u32::from(p6)).unwrap_or(0);
        prop_assert_eq!(u32::from(t4), a & m4);
        prop_assert_eq!(u128::from(t6), v6 & m6);
    }

    #[test]
    fn plain_is_the_identity(a in any::<u32>(), v6 in any::<u128>()) {
        for ip in [IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V6(Ipv6Addr::from(v6))] {
            prop_assert_eq!(Protector::Plain.apply(ip), ip);
        }
    }
}

#[test]
fn pseudo_is_a_bijection_on_a_subnet_and_depends_on_the_key() {
    let pan = CryptoPan::new(&[7; 32]);
    let other = CryptoPan::new(&[8; 32]);
    let mut seen = std::collections::HashSet::new();
    let mut differ = 0;
    for last in 0..=255u8 {
        let ip = Ipv4Addr::new(10, 1, 2, last);
        let p = pan.v4(ip);
        assert!(seen.insert(p), "{ip} collides");
        // All 256 share the /24 prefix, so their pseudonyms share one /24 too.
        assert_eq!(
            p.octets()[..3],
            pan.v4(Ipv4Addr::new(10, 1, 2, 0)).octets()[..3]
        );
        differ += usize::from(p != other.v4(ip));
    }
    assert!(
        differ > 200,
        "another key gives other pseudonyms ({differ}/256 differ)"
    );
}
