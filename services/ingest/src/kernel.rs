//! Datagrams the kernel dropped on our sockets: the `drops` column of `/proc/net/udp` and
//! `/proc/net/udp6` for the inodes of the service's sockets. A socket's receive queue
//! overflows when the workers do not read fast enough (or stopped reading because the queue
//! to Kafka is full): this is where that loss becomes visible.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use crate::metrics::IngestMetrics;

/// The sockets watched and the drops already counted for each.
#[derive(Debug, Default)]
pub struct KernelDrops {
    /// inode → (listener label, drops counted so far).
    sockets: HashMap<u64, (String, u64)>,
}

impl KernelDrops {
    /// Watches `socket`, counting its drops under `listener`. Returns false when its inode
    /// cannot be found (no /proc).
    pub fn watch(&mut self, socket: &impl AsRawFd, listener: &str) -> bool {
        let path = format!("/proc/self/fd/{}", socket.as_raw_fd());
        match std::fs::metadata(path) {
            Ok(meta) => {
                self.sockets.insert(meta.ino(), (listener.to_owned(), 0));
                true
            }
            Err(_) => false,
        }
    }

    /// Reads the tables and counts the new drops.
    pub fn poll(&mut self, metrics: &IngestMetrics) {
        if self.sockets.is_empty() {
            return;
        }
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            for (inode, drops) in parse(&text) {
                if let Some((listener, counted)) = self.sockets.get_mut(&inode) {
                    if drops > *counted {
                        metrics.kernel_drops(listener, drops - *counted);
                        *counted = drops;
                    }
                }
            }
        }
    }
}

/// (inode, drops) of each socket line of a `/proc/net/udp{,6}` table.
pub fn parse(text: &str) -> impl Iterator<Item = (u64, u64)> + '_ {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    text.lines().skip(1).filter_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let inode = cols.get(9)?.parse().ok()?;
        let drops = cols.get(12)?.parse().ok()?;
        Some((inode, drops))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_the_proc_table() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  765: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 2 0000000000000000 17\n\
  766: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 99 2 0000000000000000 0\n";
        let rows: Vec<_> = parse(text).collect();
        assert_eq!(rows, vec![(4242, 17), (99, 0)]);
    }

    #[test]
    fn finds_our_socket_in_proc() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut drops = KernelDrops::default();
        assert!(drops.watch(&socket, "test"));
        let inode = *drops.sockets.keys().next().unwrap();
        let table = std::fs::read_to_string("/proc/net/udp").unwrap();
        assert!(parse(&table).any(|(i, _)| i == inode));
    }
}
