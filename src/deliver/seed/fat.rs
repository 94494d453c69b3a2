//! A FAT12 image of one flat directory with VFAT long names, as `mkfs.vfat` and `mcopy`
//! make it for `cloud-localds -f vfat`: 512-byte sectors, one reserved sector, two FATs, a
//! 512-entry root directory, then the files, each in consecutive clusters. The image is as
//! large as its files need, at least 128 KiB (cloud-localds's size) and a whole number of
//! 32-sector tracks (mtools refuses other sizes); clusters grow from 2 KiB so that their
//! count stays FAT12's. Every entry's date is 1980-01-01 00:00, and the volume serial
//! number is a digest of the files: equal files give equal bytes.

use sha2::{Digest, Sha256};

use super::SeedFile;

const SECTOR: usize = 512;
const ROOT_ENTRIES: usize = 512;
const ROOT_SECTORS: usize = ROOT_ENTRIES * 32 / SECTOR;
const TRACK: usize = 32;
const MIN_SECTORS: usize = 256;
/// FAT12 ends at 4084 clusters; stay clear of the boundary, where readers have disagreed.
const MAX_CLUSTERS: usize = 4000;
/// 1980-01-01 in a directory entry's date format (the FAT epoch); time 00:00:00 is 0.
const DATE: u16 = 1 << 5 | 1;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_LONG_NAME: u8 = 0x0f;

/// Sizes of the regions, in sectors.
struct Geometry {
    cluster: usize,
    fat: usize,
    total: usize,
}

impl Geometry {
    fn data_start(&self) -> usize {
        1 + 2 * self.fat + ROOT_SECTORS
    }

    fn clusters(&self) -> usize {
        (self.total - self.data_start()) / self.cluster
    }

    /// The smallest cluster (from 2 KiB) that fits `sizes` in FAT12's cluster count.
    fn for_files(sizes: &[usize]) -> Option<Geometry> {
        (2..=6).map(|shift| 1 << shift).find_map(|cluster: usize| {
            let needed: usize = sizes.iter().map(|s| s.div_ceil(cluster * SECTOR)).sum();
            let mut g = Geometry { cluster, fat: 1, total: 0 };
            // The FAT's size and the cluster count depend on each other: grow until stable.
            loop {
                g.total = (g.data_start() + needed * cluster).max(MIN_SECTORS).next_multiple_of(TRACK);
                let fat = ((g.clusters() + 2) * 3 / 2 + 1).div_ceil(SECTOR);
                if fat <= g.fat {
                    break;
                }
                g.fat = fat;
            }
            (g.clusters() <= MAX_CLUSTERS).then_some(g)
        })
    }
}

/// The image of `files` (names unique, at most 255 UTF-16 units each) under volume
/// label `label` (at most 11 ASCII characters, kept as given, as mkfs.fat does).
pub fn image(label: &str, files: &[SeedFile]) -> Result<Vec<u8>, String> {
    let sizes: Vec<usize> = files.iter().map(|f| f.bytes.len()).collect();
    let g = Geometry::for_files(&sizes).ok_or_else(|| {
        format!("{} bytes of files is more than a FAT12 seed image holds", sizes.iter().sum::<usize>())
    })?;
    let cluster_bytes = g.cluster * SECTOR;
    let mut out = vec![0u8; g.total * SECTOR];
    out[..SECTOR].copy_from_slice(&boot_sector(&g, label, serial(files)));

    let mut fat = vec![0u8; g.fat * SECTOR];
    set_fat12(&mut fat, 0, 0xff8);
    set_fat12(&mut fat, 1, 0xfff);
    let mut root = entry(&short_label(label), ATTR_VOLUME, 0, 0);
    let mut shorts = Vec::new();
    let mut next = 2;
    for file in files {
        let n = file.bytes.len().div_ceil(cluster_bytes);
        let first = if n == 0 { 0 } else { next };
        for c in next..next + n {
            set_fat12(&mut fat, c, if c + 1 == next + n { 0xfff } else { c as u16 + 1 });
        }
        let at = (g.data_start() + (next - 2) * g.cluster) * SECTOR;
        out[at..at + file.bytes.len()].copy_from_slice(file.bytes);
        next += n;
        let short = short_name(file.name, &shorts);
        root.extend(long_name_entries(file.name, &short)?);
        root.extend(entry(&short, ATTR_ARCHIVE, first as u16, file.bytes.len() as u32));
        shorts.push(short);
    }
    if root.len() > ROOT_ENTRIES * 32 {
        return Err(format!("{} files' names do not fit a FAT root directory", files.len()));
    }
    for copy in 0..2 {
        let at = (1 + copy * g.fat) * SECTOR;
        out[at..at + fat.len()].copy_from_slice(&fat);
    }
    let at = (1 + 2 * g.fat) * SECTOR;
    out[at..at + root.len()].copy_from_slice(&root);
    Ok(out)
}

/// The volume serial number: the first bytes of a digest over the names and contents, so
/// two nodes' media differ (as mkfs.fat's, from the clock, would) and one node's do not.
fn serial(files: &[SeedFile]) -> [u8; 4] {
    let mut h = Sha256::new();
    for f in files {
        h.update((f.name.len() as u64).to_le_bytes());
        h.update(f.name.as_bytes());
        h.update((f.bytes.len() as u64).to_le_bytes());
        h.update(f.bytes);
    }
    h.finalize()[..4].try_into().expect("four bytes of a digest")
}

/// The boot sector: the BIOS parameter block of DOS 4 (with the label and serial), a boot
/// program that only halts, and the signature.
fn boot_sector(g: &Geometry, label: &str, serial: [u8; 4]) -> [u8; SECTOR] {
    let mut b = [0u8; SECTOR];
    b[..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
    b[3..11].copy_from_slice(b"MSWIN4.1");
    b[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    b[13] = g.cluster as u8;
    b[14..16].copy_from_slice(&1u16.to_le_bytes());
    b[16] = 2;
    b[17..19].copy_from_slice(&(ROOT_ENTRIES as u16).to_le_bytes());
    if g.total < 0x10000 {
        b[19..21].copy_from_slice(&(g.total as u16).to_le_bytes());
    } else {
        b[32..36].copy_from_slice(&(g.total as u32).to_le_bytes());
    }
    b[21] = 0xf8;
    b[22..24].copy_from_slice(&(g.fat as u16).to_le_bytes());
    b[24..26].copy_from_slice(&(TRACK as u16).to_le_bytes());
    b[26..28].copy_from_slice(&2u16.to_le_bytes());
    b[36] = 0x80;
    b[38] = 0x29;
    b[39..43].copy_from_slice(&serial);
    b[43..54].copy_from_slice(&short_label(label));
    b[54..62].copy_from_slice(b"FAT12   ");
    // The jump lands here: a loop, should a machine ever try to boot the seed.
    b[62..64].copy_from_slice(&[0xeb, 0xfe]);
    b[510..512].copy_from_slice(&[0x55, 0xaa]);
    b
}

fn short_label(label: &str) -> [u8; 11] {
    let mut l = [b' '; 11];
    l[..label.len()].copy_from_slice(label.as_bytes());
    l
}

fn set_fat12(fat: &mut [u8], cluster: usize, value: u16) {
    let at = cluster * 3 / 2;
    let pair = u16::from_le_bytes([fat[at], fat[at + 1]]);
    let pair = if cluster.is_multiple_of(2) { (pair & 0xf000) | value } else { (pair & 0x000f) | (value << 4) };
    fat[at..at + 2].copy_from_slice(&pair.to_le_bytes());
}

/// A 32-byte short directory entry, every date and time the fixed one.
fn entry(name: &[u8; 11], attr: u8, cluster: u16, size: u32) -> Vec<u8> {
    let mut e = vec![0u8; 32];
    e[..11].copy_from_slice(name);
    e[11] = attr;
    for at in [16, 18, 24] {
        e[at..at + 2].copy_from_slice(&DATE.to_le_bytes());
    }
    e[26..28].copy_from_slice(&cluster.to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

/// The 8.3 name Windows would give `name` beside `taken`: upper case, characters a short
/// name cannot hold as `_`, and a numeric tail (`USER-D~1`) since the long name says it all.
fn short_name(name: &str, taken: &[[u8; 11]]) -> [u8; 11] {
    let oem = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|c| *c != ' ' && *c != '.')
            .map(|c| match c.to_ascii_uppercase() {
                c @ ('A'..='Z'
                | '0'..='9'
                | '!'
                | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '-'
                | '@'
                | '^'
                | '_'
                | '`'
                | '{'
                | '}'
                | '~') => c as u8,
                _ => b'_',
            })
            .collect()
    };
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (oem(b), oem(e)),
        _ => (oem(name), Vec::new()),
    };
    let mut short = [b' '; 11];
    for (i, c) in ext.iter().take(3).enumerate() {
        short[8 + i] = *c;
    }
    (1..)
        .find_map(|n: usize| {
            let tail = format!("~{n}");
            let keep = base.len().min(8 - tail.len());
            short[..8].fill(b' ');
            short[..keep].copy_from_slice(&base[..keep]);
            short[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
            (!taken.contains(&short)).then_some(short)
        })
        .expect("a free numeric tail")
}

/// The short name's checksum each long-name entry carries.
fn checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, &c| sum.rotate_right(1).wrapping_add(c))
}

/// The long-name entries that precede `short`'s entry: 13 UTF-16 units each, the last
/// (stored first) marked 0x40, the name ended by a 0 unit and padded with 0xFFFF.
fn long_name_entries(name: &str, short: &[u8; 11]) -> Result<Vec<u8>, String> {
    let mut units: Vec<u16> = name.encode_utf16().collect();
    if units.is_empty() || units.len() > 255 {
        return Err(format!("{name:?} cannot be a FAT long name"));
    }
    let count = units.len().div_ceil(13);
    if units.len() < count * 13 {
        units.push(0);
        units.resize(count * 13, 0xffff);
    }
    let sum = checksum(short);
    let mut out = Vec::with_capacity(count * 32);
    for seq in (1..=count).rev() {
        let part = &units[(seq - 1) * 13..seq * 13];
        let mut e = [0u8; 32];
        e[0] = seq as u8 | if seq == count { 0x40 } else { 0 };
        e[11] = ATTR_LONG_NAME;
        e[13] = sum;
        let slots = (1..11).step_by(2).chain((14..26).step_by(2)).chain((28..32).step_by(2));
        for (at, unit) in slots.zip(part) {
            e[at..at + 2].copy_from_slice(&unit.to_le_bytes());
        }
        out.extend_from_slice(&e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_those_windows_and_mtools_give() {
        assert_eq!(&short_name("user-data", &[]), b"USER-D~1   ");
        assert_eq!(&short_name("network-config", &[]), b"NETWOR~1   ");
        assert_eq!(&short_name("a.tar.gz", &[]), b"ATAR~1  GZ ");
        let first = short_name("meta-data", &[]);
        assert_eq!(&short_name("meta-datb", &[first]), b"META-D~2   ");
    }

    #[test]
    fn the_checksum_is_the_specifications() {
        // What mtools' long-name entries for user-data and meta-data carry.
        assert_eq!(checksum(b"USER-D~1   "), 0xb0);
        assert_eq!(checksum(b"META-D~1   "), 0xd4);
    }

    #[test]
    fn fat12_entries_pack_in_pairs() {
        let mut fat = vec![0u8; 6];
        set_fat12(&mut fat, 0, 0xff8);
        set_fat12(&mut fat, 1, 0xfff);
        set_fat12(&mut fat, 2, 0x003);
        set_fat12(&mut fat, 3, 0xfff);
        assert_eq!(fat, [0xf8, 0xff, 0xff, 0x03, 0xf0, 0xff]);
    }

    #[test]
    fn clusters_grow_to_stay_fat12() {
        let g = Geometry::for_files(&[10]).unwrap();
        assert_eq!((g.cluster, g.total), (4, MIN_SECTORS));
        let g = Geometry::for_files(&[20 << 20]).unwrap();
        assert!(g.cluster > 4 && g.clusters() <= MAX_CLUSTERS && g.total.is_multiple_of(TRACK));
        assert!(Geometry::for_files(&[200 << 20]).is_none());
    }
}
