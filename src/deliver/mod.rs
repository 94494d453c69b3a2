//! Writers from a node's plan to user-data. They add nothing of their own: what lands on
//! a node is decided in the plan, so every format lands the same files.

#[cfg(feature = "bundle")]
pub mod bundle;
pub mod cloud_init;
pub mod ignition;
pub mod node_image;
pub mod pack;
pub mod pins;
pub mod seal;
pub mod seed;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::model::Cluster;
use crate::model::profile::Format;
use crate::node::plan::NodePlan;

/// One output file of a node's user-data, relative to `OUT/<node>/`.
pub struct Rendered {
    /// The file name: `user-data`, `meta-data`, `network-config`, `config.ign`, ….
    pub name: &'static str,
    /// The file's contents, exactly as written.
    pub bytes: Vec<u8>,
}

/// A node's user-data and its size as raw and as delivered.
pub struct UserData {
    /// The format the node's first boot reads.
    pub format: Format,
    /// The files to hand the platform, in the order they are written.
    pub files: Vec<Rendered>,
    /// The user-data document itself.
    pub raw: usize,
    /// What the platform receives: gzip-compressed where the format allows.
    pub delivered: usize,
}

/// The node's user-data in the spec's format, with every planned file in it.
pub fn render(cluster: &Cluster, plan: &NodePlan) -> UserData {
    match cluster.os.format {
        Format::CloudInit => cloud_init::render(cluster, plan),
        Format::Ignition => ignition::render(cluster, plan),
    }
}

/// gzip with no name and no timestamp, so equal input gives equal bytes. Level 6 of
/// libdeflate: on a control plane's user-data, 9 is four times slower for 0.7 % fewer bytes;
/// and libdeflate at 6 is both twice as fast as zlib at 6 and 3 % smaller.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_at(data, Level::Default)
}

/// gzip for a whole user-data document. One that fits every platform's limit even
/// uncompressed (EC2's 16 KiB: a worker's) gets a fast level: its size hardly matters, and
/// at a thousand workers compression was a quarter of the bake.
pub fn gzip_document(data: &[u8]) -> Vec<u8> {
    gzip_at(data, if data.len() <= EC2_LIMIT { Level::Fast } else { Level::Default })
}

/// The tightest user-data limit of the platforms kubebake knows (EC2's, in raw bytes).
const EC2_LIMIT: usize = 16_384;

/// gzip for a user-data document that is delivered as the gzip itself (cloud-init's
/// `user-data.gz`): the fastest level whose result fits EC2's limit, level 6 when it does
/// not. A control plane's document (about 50 KB) compresses twice as fast at level 1 and
/// comes out 7 % larger, which is two tenths of a millisecond of a one-node bake; a
/// document that level 1 leaves over the limit is compressed again at 6, so whatever fit
/// before still fits.
pub fn gzip_to_fit(data: &[u8]) -> Vec<u8> {
    gzip_within(data, EC2_LIMIT)
}

fn gzip_within(data: &[u8], limit: usize) -> Vec<u8> {
    if data.len() <= limit {
        return gzip_at(data, Level::Fast);
    }
    let fastest = gzip_at(data, Level::Fastest);
    if fastest.len() <= limit { fastest } else { gzip_at(data, Level::Default) }
}

#[derive(Clone, Copy)]
enum Level {
    Fastest = 1,
    Fast = 2,
    Default = 6,
}

/// Each thread keeps one compressor per level: a bake of many nodes compresses thousands
/// of documents, and a fresh compressor per document (hundreds of kilobytes of tables)
/// costs more than compressing a worker's.
fn gzip_at(data: &[u8], level: Level) -> Vec<u8> {
    use libdeflater::{CompressionLvl, Compressor, Crc};
    thread_local! {
        static DEFLATE: std::cell::RefCell<[Option<Compressor>; 3]> =
            const { std::cell::RefCell::new([None, None, None]) };
    }
    // No name, no timestamp, XFL 0 (neither the fastest nor the best level), OS unknown.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut out = Vec::new();
    DEFLATE.with_borrow_mut(|slots| {
        let slot = &mut slots[match level {
            Level::Fastest => 0,
            Level::Fast => 1,
            Level::Default => 2,
        }];
        let deflate = slot
            .get_or_insert_with(|| Compressor::new(CompressionLvl::new(level as i32).expect("a level libdeflate has")));
        out.resize(HEADER.len() + deflate.deflate_compress_bound(data.len()), 0);
        let n = deflate.deflate_compress(data, &mut out[HEADER.len()..]).expect("the bound fits");
        out.truncate(HEADER.len() + n);
    });
    out[..HEADER.len()].copy_from_slice(&HEADER);
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// xz (LZMA2, preset 6, CRC32) with a dictionary no larger than the data needs, so the
/// node's `xz -d` allocates little. For a control plane's pack, a tenth smaller than gzip.
/// No position bits (`pb=0`): what it compresses is mostly text.
pub fn xz(data: &[u8]) -> Vec<u8> {
    use liblzma::stream::{Check, Filters, LzmaOptions, Stream};
    use std::io::Write;
    let mut options = LzmaOptions::new_preset(6).expect("preset 6 exists");
    options.dict_size((data.len() as u32).next_power_of_two().clamp(4096, 8 << 20));
    options.position_bits(0);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let stream = Stream::new_stream_encoder(&filters, Check::Crc32).expect("an xz encoder");
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    let mut encoder = liblzma::write::XzEncoder::new_stream(&mut out, stream);
    encoder.write_all(data).expect("compressing into memory");
    encoder.finish().expect("compressing into memory");
    out
}

/// Standard base64 with padding, as cloud-init's `b64` and data URLs decode it.
pub fn base64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Where user-data goes, and how much of it the platform takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// What `--platform` takes: `aws`, `azure`, `gce`, `openstack`, `vsphere`, `hetzner`.
    pub name: &'static str,
    /// The most user-data the platform takes, in bytes.
    pub limit: usize,
    /// Whether the limit applies to the base64 encoding the API carries.
    pub counts_base64: bool,
    /// Where anything on the instance can read its user-data back over the network: a
    /// control plane's keys in clear there are readable by every pod that reaches it.
    pub metadata_service: Option<&'static str>,
}

/// The platforms `bake --platform` checks user-data sizes and exposure against.
pub const PLATFORMS: &[Platform] = &[
    // EC2: 16 KB of raw user data, before base64.
    Platform {
        name: "aws",
        limit: 16_384,
        counts_base64: false,
        metadata_service: Some("EC2's instance metadata service (http://169.254.169.254/latest/user-data)"),
    },
    // Azure custom data: 64 KB, base64-encoded. Only custom data's copy on the disk
    // (/var/lib/waagent/ovf-env.xml) holds it; user data (a separate field) is in IMDS.
    Platform {
        name: "azure",
        limit: 65_536,
        counts_base64: true,
        metadata_service: Some("Azure's instance metadata service and the agent's copy in /var/lib/waagent"),
    },
    // GCE: 256 KB per metadata value.
    Platform {
        name: "gce",
        limit: 262_144,
        counts_base64: false,
        metadata_service: Some("the GCE metadata server (http://metadata.google.internal)"),
    },
    // Nova: user_data up to 65535 bytes, base64-encoded.
    Platform {
        name: "openstack",
        limit: 65_535,
        counts_base64: true,
        metadata_service: Some("OpenStack's metadata service (http://169.254.169.254/openstack/latest/user_data)"),
    },
    // guestinfo.userdata, base64-encoded; VMX entries beyond 64 KiB are unreliable. Read
    // through VMware Tools on the node, not over the network.
    Platform { name: "vsphere", limit: 65_536, counts_base64: true, metadata_service: None },
    // Hetzner Cloud: 32 KiB.
    Platform {
        name: "hetzner",
        limit: 32_768,
        counts_base64: false,
        metadata_service: Some("Hetzner's metadata service (http://169.254.169.254/hetzner/v1/userdata)"),
    },
];

impl Platform {
    /// The platform `--platform` names, if kubebake knows it.
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
    #[test]
    fn gzip_reads_back_and_is_the_same_on_every_call_and_thread() {
        use std::io::Read;
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let inputs: Vec<Vec<u8>> = vec![Vec::new(), b"kubebake".to_vec(), data[..10_000].to_vec(), data];
        let all = |inputs: &[Vec<u8>]| -> Vec<Vec<u8>> {
            inputs.iter().flat_map(|i| [super::gzip(i), super::gzip_document(i)]).collect()
        };
        let here = all(&inputs);
        // Again on this thread (compressors reused), and on another (fresh ones).
        assert_eq!(all(&inputs), here);
        assert_eq!(std::thread::scope(|s| s.spawn(|| all(&inputs)).join().unwrap()), here);
        for (i, packed) in here.iter().enumerate() {
            let input = &inputs[i / 2];
            // No name, no timestamp.
            assert_eq!(packed[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut back).unwrap();
            assert_eq!(&back, input);
        }
        // Any gzip reader takes it, concatenated members too (as `zcat` reads them).
        let mut both = here[6].clone();
        both.extend_from_slice(&here[4]);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&both[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, [&inputs[3][..], &inputs[2][..]].concat());
    }

    /// A document that level 1 fits stays at level 1; one it leaves over the limit gets
    /// level 6; one that fits raw gets the fast level of small documents.
    #[test]
    fn gzip_to_fit_takes_the_fastest_level_that_fits() {
        use super::{Level, gzip_at, gzip_within};
        use std::io::Read;
        // Structured text with near repeats, like configuration: level 6 finds more of
        // them than level 1 does.
        let data: Vec<u8> = (0..3000u32)
            .map(|i| format!("- name: node-{}\n  value: {}\n", i % 97, (i * 7919) % 4099))
            .collect::<String>()
            .into_bytes();
        let read = |gz: &[u8]| {
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(gz).read_to_end(&mut back).unwrap();
            back
        };
        let fastest = gzip_at(&data, Level::Fastest);
        let default = gzip_at(&data, Level::Default);
        assert!(default.len() < fastest.len(), "{} vs {}", default.len(), fastest.len());
        assert_eq!(gzip_within(&data, fastest.len()), fastest);
        assert_eq!(gzip_within(&data, fastest.len() - 1), default);
        assert_eq!(gzip_within(&data, data.len()), gzip_at(&data, Level::Fast));
        for gz in [&fastest, &default] {
            assert_eq!(read(gz), data);
        }
        assert_eq!(super::gzip_to_fit(&data), gzip_within(&data, super::EC2_LIMIT));
    }
}
