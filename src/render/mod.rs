//! Writers from a node's plan to user-data. They add nothing of their own: what lands on
//! a node is decided in the plan, so every format lands the same files.

pub mod cloud_init;
pub mod ignition;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::model::Cluster;
use crate::plan::NodePlan;
use crate::profile::Format;

/// One output file of a node's user-data, relative to `OUT/<node>/`.
pub struct Rendered {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

/// A node's user-data and its size as raw and as delivered.
pub struct UserData {
    pub format: Format,
    pub files: Vec<Rendered>,
    /// The user-data document itself.
    pub raw: usize,
    /// What the platform receives: gzip-compressed where the format allows.
    pub delivered: usize,
}

pub fn render(cluster: &Cluster, plan: &NodePlan) -> UserData {
    match cluster.os.format {
        Format::CloudInit => cloud_init::render(cluster, plan),
        Format::Ignition => ignition::render(cluster, plan),
    }
}

/// gzip with no name and no timestamp, so equal input gives equal bytes (the header
/// flate2's `GzBuilder` writes at this level). Level 6: on a control plane's user-data, 9
/// is 2.5 times slower for 0.1 % fewer bytes. Each thread keeps one compressor: a bake
/// of many nodes compresses thousands of documents, and a fresh compressor per document
/// (half a megabyte of tables) left the heap fragmented to ten times the data it held.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    thread_local! {
        static DEFLATE: std::cell::RefCell<flate2::Compress> =
            std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::new(6), false));
    }
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let done = deflate.total_in() as usize;
            let status = deflate
                .compress_vec(&data[done..], &mut out, flate2::FlushCompress::Finish)
                .expect("deflating into memory");
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
    });
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

pub fn base64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Where user-data goes, and how much of it the platform takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub name: &'static str,
    pub limit: usize,
    /// Whether the limit applies to the base64 encoding the API carries.
    pub counts_base64: bool,
}

pub const PLATFORMS: &[Platform] = &[
    // EC2: 16 KB of raw user data, before base64.
    Platform { name: "aws", limit: 16_384, counts_base64: false },
    // Azure custom data: 64 KB, base64-encoded.
    Platform { name: "azure", limit: 65_536, counts_base64: true },
    // GCE: 256 KB per metadata value.
    Platform { name: "gce", limit: 262_144, counts_base64: false },
    // Nova: user_data up to 65535 bytes, base64-encoded.
    Platform { name: "openstack", limit: 65_535, counts_base64: true },
    // guestinfo.userdata, base64-encoded; VMX entries beyond 64 KiB are unreliable.
    Platform { name: "vsphere", limit: 65_536, counts_base64: true },
    // Hetzner Cloud: 32 KiB.
    Platform { name: "hetzner", limit: 32_768, counts_base64: false },
];

impl Platform {
    pub fn by_name(name: &str) -> Option<Platform> {
        PLATFORMS.iter().copied().find(|p| p.name == name)
    }

    /// The size this platform counts for `delivered` bytes.
    pub fn counted(&self, delivered: usize) -> usize {
        if self.counts_base64 { delivered.div_ceil(3) * 4 } else { delivered }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    #[test]
    fn gzip_is_flate2s_gzip_at_level_6_and_reads_back() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for input in [&b""[..], b"kubebake", &data] {
            let mut reference = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(6));
            reference.write_all(input).unwrap();
            assert_eq!(super::gzip(input), reference.finish().unwrap());
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&super::gzip(input)[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, input);
        }
    }
}
