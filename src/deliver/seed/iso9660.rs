//! An ISO 9660 image of one flat directory, with a Joliet tree beside the primary one, as
//! `genisoimage -joliet` lays it out: the primary tree's names are ISO level 1 (`USER_DAT.;1`),
//! which no reader of a seed uses; the Joliet tree keeps the real names (`user-data`), and
//! Linux (kernel and fuseiso), Windows, macOS and libisofs read those. No Rock Ridge: a
//! seed needs names, not POSIX modes or owners, and Joliet alone gives the names.
//!
//! Layout, in 2048-byte sectors: 0-15 system area (zeros), 16 primary volume descriptor,
//! 17 Joliet's supplementary one, 18 the terminator, 19-22 the path tables (L and M, each
//! tree), then the primary root directory, the Joliet root directory, and the files, each
//! from a sector boundary. Every date is [`DATE`]: equal files give equal bytes.

use super::SeedFile;

const SECTOR: usize = 2048;
/// The first sector after the system area.
const DESCRIPTORS: u32 = 16;
const PATH_TABLES: u32 = DESCRIPTORS + 3;
/// 1980-01-01 00:00:00 UTC, the same fixed date as the FAT image's entries.
const DATE: [u8; 7] = [80, 1, 1, 0, 0, 0, 0];
const LONG_DATE: &[u8; 16] = b"1980010100000000";

/// Which of the two trees a directory or descriptor belongs to.
#[derive(Clone, Copy, PartialEq)]
enum Tree {
    Primary,
    Joliet,
}

/// One file's place on the image.
struct Placed<'a> {
    file: &'a SeedFile<'a>,
    sector: u32,
}

/// The image of `files` (names unique, in any order) under volume id `label`.
pub fn image(label: &str, files: &[SeedFile]) -> Result<Vec<u8>, String> {
    // Directory sizes depend on names only, so the layout can be fixed before the records
    // (which hold the files' sectors) are written.
    let probe: Vec<Placed> = files.iter().map(|file| Placed { file, sector: 0 }).collect();
    let sectors = |tree| directory(tree, &probe, 0).len().div_ceil(SECTOR) as u32;
    let primary_dir = PATH_TABLES + 4;
    let joliet_dir = primary_dir + sectors(Tree::Primary);
    let mut next = joliet_dir + sectors(Tree::Joliet);
    let mut placed = Vec::with_capacity(files.len());
    for file in files {
        // An empty file has no extent; it names the next free sector, as genisoimage does.
        placed.push(Placed { file, sector: next });
        next += u32::try_from(file.bytes.len().div_ceil(SECTOR)).map_err(|_| "a file over 4 GiB".to_string())?;
    }
    let total = next;
    let mut out = vec![0u8; total as usize * SECTOR];
    let dirs = [(Tree::Primary, primary_dir), (Tree::Joliet, joliet_dir)];
    for (i, (tree, at)) in dirs.into_iter().enumerate() {
        let records = directory(tree, &placed, at);
        let dir_len = records.len().div_ceil(SECTOR) * SECTOR;
        put(&mut out, at, &records);
        let descriptor = volume_descriptor(tree, label, total, at, dir_len as u32);
        put(&mut out, DESCRIPTORS + i as u32, &descriptor);
        let (l, m) = path_tables(at);
        put(&mut out, PATH_TABLES + 2 * i as u32, &l);
        put(&mut out, PATH_TABLES + 2 * i as u32 + 1, &m);
    }
    put(&mut out, DESCRIPTORS + 2, &terminator());
    for p in &placed {
        put(&mut out, p.sector, p.file.bytes);
    }
    Ok(out)
}

fn put(out: &mut [u8], sector: u32, bytes: &[u8]) {
    let at = sector as usize * SECTOR;
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

/// ISO 9660's "both-byte orders" numbers: little-endian, then big-endian.
fn both32(n: u32) -> [u8; 8] {
    let (l, b) = (n.to_le_bytes(), n.to_be_bytes());
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

fn both16(n: u16) -> [u8; 4] {
    let (l, b) = (n.to_le_bytes(), n.to_be_bytes());
    [l[0], l[1], b[0], b[1]]
}

/// A directory record (ECMA-119 9.1): `name` as stored, `flags` 2 for a directory.
fn record(name: &[u8], sector: u32, len: u32, flags: u8) -> Vec<u8> {
    let mut r = vec![0u8; 33];
    r[2..10].copy_from_slice(&both32(sector));
    r[10..18].copy_from_slice(&both32(len));
    r[18..25].copy_from_slice(&DATE);
    r[25] = flags;
    r[28..32].copy_from_slice(&both16(1));
    r[32] = name.len() as u8;
    r.extend_from_slice(name);
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    r
}

/// A name as the tree stores it: Joliet's in UCS-2 big-endian, no version; the primary
/// tree's as ISO level 1 (8.3 of `A-Z 0-9 _`, version `;1`).
fn stored_name(tree: Tree, name: &str) -> Vec<u8> {
    match tree {
        Tree::Joliet => name.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Tree::Primary => {
            let level1 = |s: &str, n: usize| -> String {
                s.chars()
                    .map(|c| match c.to_ascii_uppercase() {
                        c @ ('A'..='Z' | '0'..='9') => c,
                        _ => '_',
                    })
                    .take(n)
                    .collect()
            };
            let (base, ext) = name.rsplit_once('.').unwrap_or((name, ""));
            format!("{}.{};1", level1(base, 8), level1(ext, 3)).into_bytes()
        }
    }
}

/// The root directory at `sector` with `files` in it, sorted as ECMA-119 9.3 wants (by
/// the stored name), no record crossing a sector boundary.
fn directory(tree: Tree, files: &[Placed], sector: u32) -> Vec<u8> {
    let mut entries: Vec<(Vec<u8>, &Placed)> = files.iter().map(|p| (stored_name(tree, p.file.name), p)).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let records: Vec<Vec<u8>> =
        entries.iter().map(|(name, p)| record(name, p.sector, p.file.bytes.len() as u32, 0)).collect();
    // Its own length is in "." and "..": lay the records out once to learn it.
    let lay = |dir_len: u32| {
        let mut out = Vec::new();
        let own = [record(&[0], sector, dir_len, 2), record(&[1], sector, dir_len, 2)];
        for r in own.iter().chain(&records) {
            let room = SECTOR - out.len() % SECTOR;
            if r.len() > room {
                out.resize(out.len() + room, 0);
            }
            out.extend_from_slice(r);
        }
        out
    };
    let dir_len = (lay(0).len().div_ceil(SECTOR) * SECTOR) as u32;
    lay(dir_len)
}

/// The L (little-endian) and M (big-endian) path tables of a tree whose only directory is
/// the root, at `root`.
fn path_tables(root: u32) -> (Vec<u8>, Vec<u8>) {
    let table = |sector: [u8; 4], parent: [u8; 2]| {
        let mut t = vec![1, 0];
        t.extend_from_slice(&sector);
        t.extend_from_slice(&parent);
        t.extend_from_slice(&[0, 0]);
        t
    };
    (table(root.to_le_bytes(), 1u16.to_le_bytes()), table(root.to_be_bytes(), 1u16.to_be_bytes()))
}

/// The primary volume descriptor, or Joliet's supplementary one (ECMA-119 8.4, 8.5).
fn volume_descriptor(tree: Tree, label: &str, total: u32, root: u32, root_len: u32) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = if tree == Tree::Primary { 1 } else { 2 };
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    // Text fields: a-characters padded with spaces, or Joliet's UCS-2 padded with U+0020.
    let text = |d: &mut [u8], at: usize, len: usize, s: &str| {
        let field = &mut d[at..at + len];
        match tree {
            Tree::Primary => {
                field.fill(b' ');
                field[..s.len()].copy_from_slice(s.as_bytes());
            }
            Tree::Joliet => {
                for (i, c) in s.chars().chain(std::iter::repeat(' ')).take(len / 2).enumerate() {
                    field[2 * i..2 * i + 2].copy_from_slice(&(c as u16).to_be_bytes());
                }
            }
        }
    };
    text(&mut d, 8, 32, "");
    text(&mut d, 40, 32, label);
    d[80..88].copy_from_slice(&both32(total));
    if tree == Tree::Joliet {
        // UCS-2 level 3.
        d[88..91].copy_from_slice(b"%/E");
    }
    d[120..124].copy_from_slice(&both16(1));
    d[124..128].copy_from_slice(&both16(1));
    d[128..132].copy_from_slice(&both16(SECTOR as u16));
    d[132..140].copy_from_slice(&both32(10));
    let tables = PATH_TABLES + if tree == Tree::Primary { 0 } else { 2 };
    d[140..144].copy_from_slice(&tables.to_le_bytes());
    d[148..152].copy_from_slice(&(tables + 1).to_be_bytes());
    d[156..190].copy_from_slice(&record(&[0], root, root_len, 2));
    for (at, len) in [(190, 128), (318, 128), (446, 128), (702, 37), (739, 37), (776, 37)] {
        text(&mut d, at, len, "");
    }
    text(&mut d, 574, 128, "KUBEBAKE");
    // Created and modified at DATE; expiry and effective dates "not specified".
    for (at, date) in [(813, LONG_DATE), (830, LONG_DATE), (847, b"0000000000000000"), (864, b"0000000000000000")] {
        d[at..at + 16].copy_from_slice(date);
    }
    d[881] = 1;
    d
}

fn terminator() -> Vec<u8> {
    let mut d = vec![0u8; 7];
    d[0] = 255;
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_names_are_level_1_and_joliet_names_are_the_names() {
        assert_eq!(stored_name(Tree::Primary, "user-data"), b"USER_DAT.;1");
        assert_eq!(stored_name(Tree::Primary, "network-config"), b"NETWORK_.;1");
        assert_eq!(stored_name(Tree::Primary, "a.tar.gz"), b"A_TAR.GZ;1");
        assert_eq!(stored_name(Tree::Joliet, "meta-data"), b"\0m\0e\0t\0a\0-\0d\0a\0t\0a");
    }

    #[test]
    fn records_never_cross_a_sector() {
        let names: Vec<String> = (0..200).map(|i| format!("a-file-with-a-long-name-{i:03}")).collect();
        let files: Vec<SeedFile> = names.iter().map(|n| SeedFile { name: n, bytes: b"x" }).collect();
        let placed: Vec<Placed> = files.iter().map(|file| Placed { file, sector: 99 }).collect();
        let dir = directory(Tree::Joliet, &placed, 23);
        assert!(dir.len() > SECTOR);
        let mut at = 0;
        let mut seen = 0;
        while at < dir.len() {
            if dir[at] == 0 {
                at = (at / SECTOR + 1) * SECTOR;
                continue;
            }
            let len = dir[at] as usize;
            assert_eq!(at / SECTOR, (at + len - 1) / SECTOR, "record at {at} crosses a sector");
            at += len;
            seen += 1;
        }
        assert_eq!(seen, 202);
        // "."'s length is the directory's, whole sectors.
        assert_eq!(u32::from_le_bytes(dir[10..14].try_into().unwrap()) as usize, dir.len().div_ceil(SECTOR) * SECTOR);
    }
}
