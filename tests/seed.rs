//! NoCloud seed media (src/deliver/seed) read by the tools that read them for real: `blkid`
//! (what cloud-init's NoCloud looks up), xorriso and isoinfo for the ISO, mtools and
//! fsck.fat for the FAT image, the kernel's filesystems through a loop mount (or FUSE's,
//! fuseiso and fusefat, on a kernel built without them), and cloud-localds' own media for
//! comparison. The boot tier (tests/boot.rs) has real cloud-init find and read a medium.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kubebake::deliver::seed::{self, MediaKind, SeedFile};

const KINDS: [MediaKind; 2] = [MediaKind::Iso, MediaKind::Vfat];

/// The quickstart example with static addressing, so its nodes have a network-config.
fn spec() -> String {
    let mut s = include_str!("../examples/quickstart.yaml").to_string();
    let extra = "  os: debian-12\n  nodeNetwork: {interface: eth0, prefixLength: 24, gateway: 10.0.0.1, \
                 nameservers: [10.0.0.1]}\n";
    s.insert_str(s.find("  nodes:").unwrap(), extra);
    s
}

/// The tools these tests read media with; None (after saying what is missing) when one
/// is not here and this is not CI.
struct Tools {
    blkid: PathBuf,
    xorriso: PathBuf,
    isoinfo: PathBuf,
    mcopy: PathBuf,
    mdir: PathBuf,
    fsck_fat: PathBuf,
}

fn tools() -> Option<Tools> {
    Some(Tools {
        blkid: tool("blkid", "util-linux")?,
        xorriso: tool("xorriso", "xorriso")?,
        isoinfo: tool("isoinfo", "genisoimage")?,
        mcopy: tool("mcopy", "mtools")?,
        mdir: tool("mdir", "mtools")?,
        fsck_fat: tool("fsck.fat", "dosfstools")?,
    })
}

fn type_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Iso => "iso9660",
        MediaKind::Vfat => "vfat",
    }
}

/// `blkid -o export`'s fields for the image.
fn blkid(t: &Tools, image: &Path) -> BTreeMap<String, String> {
    let out = run_ok(Command::new(&t.blkid).args(["-p", "-o", "export"]).arg(image));
    out.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The files at the medium's root, by name, as the filesystem's own tools read them:
/// xorriso (which reads the Joliet tree) and isoinfo -J must agree on an ISO; on a FAT
/// image, mdir's long names and mcopy's bytes, and fsck.fat must find nothing to fix.
fn read_with_tools(t: &Tools, kind: MediaKind, image: &Path) -> BTreeMap<String, Vec<u8>> {
    let scratch = tempfile::tempdir().unwrap();
    match kind {
        MediaKind::Iso => {
            let listed =
                run_ok(Command::new(&t.xorriso).args(["-indev"]).arg(image).args(["-find", "/", "-type", "f"]));
            let names: Vec<String> =
                listed.lines().map(|l| l.trim().trim_matches('\'').trim_start_matches('/').to_string()).collect();
            let dir = scratch.path().join("x");
            run_ok(
                Command::new(&t.xorriso)
                    .args(["-osirrox", "on", "-indev"])
                    .arg(image)
                    .args(["-extract", "/"])
                    .arg(&dir),
            );
            let extracted = read_dir(&dir);
            assert_eq!(names, extracted.keys().cloned().collect::<Vec<_>>(), "xorriso's listing");
            for (name, bytes) in &extracted {
                let by_isoinfo = Command::new(&t.isoinfo)
                    .args(["-J", "-i"])
                    .arg(image)
                    .args(["-x", &format!("/{name}")])
                    .output()
                    .unwrap();
                assert!(by_isoinfo.status.success());
                assert!(by_isoinfo.stdout == *bytes, "isoinfo -J reads {name} otherwise than xorriso");
            }
            extracted
        }
        MediaKind::Vfat => {
            let fsck = Command::new(&t.fsck_fat).args(["-n", "-v"]).arg(image).output().unwrap();
            let report = String::from_utf8_lossy(&fsck.stdout).into_owned() + &String::from_utf8_lossy(&fsck.stderr);
            assert!(fsck.status.success(), "fsck.fat:\n{report}");
            // fsck.fat -n says what it would change; a clean image has nothing to say.
            for worry in ["would", "Would", "differ", "invalid", "Invalid", "Free cluster summary"] {
                assert!(!report.contains(worry), "fsck.fat:\n{report}");
            }
            let listed = run_ok(Command::new(&t.mdir).args(["-b", "-i"]).arg(image).arg("::/"));
            let names: Vec<String> = listed.lines().map(|l| l.trim_start_matches("::/").to_string()).collect();
            let dir = scratch.path().join("x");
            fs::create_dir(&dir).unwrap();
            for name in &names {
                run_ok(
                    Command::new(&t.mcopy).args(["-n", "-i"]).arg(image).arg(format!("::/{name}")).arg(dir.join(name)),
                );
            }
            let extracted = read_dir(&dir);
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(sorted, extracted.keys().cloned().collect::<Vec<_>>(), "mdir's listing");
            extracted
        }
    }
}

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap())
        })
        .collect()
}

/// A medium mounted read-only, unmounted on drop.
struct Mounted {
    dir: tempfile::TempDir,
    fuse: bool,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let unmount = if self.fuse { ["fusermount", "-u"] } else { ["umount", "-d"] };
        let _ = Command::new(unmount[0]).arg(unmount[1]).arg(self.dir.path()).status();
    }
}

/// Mounts the image with `mount -o loop,ro` when the kernel has its filesystem; a kernel
/// built without it (and without modules: this CI's) mounts it through FUSE instead,
/// fuseiso or fusefat, and says so. None, saying why, without root outside CI.
fn mount(kind: MediaKind, image: &Path) -> Option<Mounted> {
    if !root_or_skip() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let fs_type = type_name(kind);
    let kernel =
        Command::new("mount").args(["-t", fs_type, "-o", "loop,ro"]).arg(image).arg(dir.path()).output().unwrap();
    if kernel.status.success() {
        return Some(Mounted { dir, fuse: false });
    }
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap();
    assert!(
        !filesystems.lines().any(|l| l.split_whitespace().last() == Some(fs_type)),
        "the kernel has {fs_type} but would not mount {}: {}",
        image.display(),
        String::from_utf8_lossy(&kernel.stderr)
    );
    let (fuse_tool, package, args): (&str, &str, &[&str]) = match kind {
        MediaKind::Iso => ("fuseiso", "fuseiso", &[]),
        MediaKind::Vfat => ("fusefat", "fusefat", &["-o", "ro"]),
    };
    eprintln!("this kernel has no {fs_type}: mounting {} with {fuse_tool} (FUSE)", image.display());
    let fuse = tool(fuse_tool, package)?;
    run_ok(Command::new(fuse).args(args).arg(image).arg(dir.path()));
    Some(Mounted { dir, fuse: true })
}

/// Every check on one medium: its label and type, the files the filesystem's tools read
/// and the mounted files, each equal to `expected` (names and bytes, nothing else).
fn check_medium(t: &Tools, kind: MediaKind, image: &Path, expected: &BTreeMap<String, Vec<u8>>) {
    let id = blkid(t, image);
    assert_eq!(id.get("LABEL").map(String::as_str), Some("cidata"), "{id:?}");
    assert_eq!(id.get("TYPE").map(String::as_str), Some(type_name(kind)), "{id:?}");
    let read = read_with_tools(t, kind, image);
    assert_eq!(read.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{kind:?}: names");
    for (name, bytes) in expected {
        assert!(read[name] == *bytes, "{kind:?}: {name} read back otherwise than written");
    }
    if let Some(m) = mount(kind, image) {
        let mut mounted = read_dir(m.dir.path());
        if m.fuse && kind == MediaKind::Vfat {
            // fusefat lists the volume label's entry as an empty file (cloud-localds's too).
            assert_eq!(mounted.remove("cidata"), Some(Vec::new()), "fusefat shows the label as an empty file");
        }
        assert_eq!(mounted.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{kind:?}: mounted");
        for (name, bytes) in expected {
            assert!(mounted[name] == *bytes, "{kind:?}: mounted {name} differs");
        }
    }
}

#[test]
fn a_baked_nodes_media_hold_its_seed_files_and_are_the_same_bytes_when_written_again() {
    let Some(t) = tools() else { return };
    let b = Bake::new(&spec());
    b.bake(&[]).assert_ok();
    for node in ["cp-1", "worker-1"] {
        let dir = b.out().join(node);
        let expected: BTreeMap<String, Vec<u8>> = ["user-data", "meta-data", "network-config"]
            .into_iter()
            .map(|n| (n.to_string(), fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{node}/{n}: {e}"))))
            .collect();
        for kind in KINDS {
            let path = seed::write(&dir, kind).unwrap();
            assert_eq!(path, dir.join(kind.file_name()));
            check_medium(&t, kind, &path, &expected);
            let first = fs::read(&path).unwrap();
            let mode = fs::metadata(&path).unwrap().permissions();
            assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600, "it holds the node's secrets");
            assert_eq!(seed::write(&dir, kind).unwrap(), path);
            assert!(fs::read(&path).unwrap() == first, "{node}: {kind:?} differs when written again");
            // Nothing but the medium beside the baked files: no temporary file left.
            let names: Vec<String> =
                fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
        }
    }
}

/// Empty, one-byte and multi-cluster (multi-sector) files, a FAT image past 2 KiB
/// clusters, and names past one long-name entry.
#[test]
fn files_of_every_size_read_back_byte_for_byte() {
    let Some(t) = tools() else { return };
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let huge: Vec<u8> = big.iter().cycle().take(9 << 20).copied().collect();
    let sets: [&[(&str, &[u8])]; 3] = [
        &[("user-data", b"x"), ("meta-data", b""), ("network-config", &big[..70 * 1024 + 1])],
        &[("user-data", &big), ("meta-data", b"instance-id: a\n"), ("a-name-longer-than-twenty-six.yaml", b"")],
        &[("user-data", &huge), ("meta-data", &big[..2048]), ("vendor-data", &big[..4096])],
    ];
    let scratch = tempfile::tempdir().unwrap();
    for (i, set) in sets.iter().enumerate() {
        let files: Vec<SeedFile> = set.iter().map(|(name, bytes)| SeedFile { name, bytes }).collect();
        let expected: BTreeMap<String, Vec<u8>> = set.iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect();
        for kind in KINDS {
            let bytes = seed::image(kind, &files).unwrap();
            assert!(seed::image(kind, &files).unwrap() == bytes, "set {i}: {kind:?} not deterministic");
            let path = scratch.path().join(format!("{i}-{}", kind.file_name()));
            fs::write(&path, &bytes).unwrap();
            check_medium(&t, kind, &path, &expected);
        }
    }
}

/// cloud-localds (genisoimage, or mkfs.vfat and mcopy) makes media with the same label,
/// type and files; only the bytes differ (its carry the time they were made).
#[test]
fn the_media_hold_what_cloud_localds_puts_on_its_own() {
    let Some(t) = tools() else { return };
    let Some(localds) = tool("cloud-localds", "cloud-image-utils") else { return };
    let b = Bake::new(&spec());
    b.bake(&[]).assert_ok();
    let dir = b.out().join("cp-1");
    let theirs_dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let ours = seed::write(&dir, kind).unwrap();
        let theirs = theirs_dir.path().join(kind.file_name());
        let mut cmd = Command::new(&localds);
        if kind == MediaKind::Vfat {
            cmd.args(["-f", "vfat"]);
        }
        run_ok(
            cmd.arg("-N")
                .arg(dir.join("network-config"))
                .arg(&theirs)
                .arg(dir.join("user-data"))
                .arg(dir.join("meta-data")),
        );
        let (a, b) = (blkid(&t, &ours), blkid(&t, &theirs));
        assert_eq!((a.get("LABEL"), a.get("TYPE")), (b.get("LABEL"), b.get("TYPE")), "{kind:?}");
        assert!(read_with_tools(&t, kind, &ours) == read_with_tools(&t, kind, &theirs), "{kind:?}: files differ");
    }
}

#[test]
fn a_node_without_user_data_gets_no_medium_and_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.ign"), "{}").unwrap();
    let err = seed::write(dir.path(), MediaKind::Iso).unwrap_err().to_string();
    assert!(err.contains("user-data") && err.contains("cloud-init nodes"), "{err}");
    assert!(!dir.path().join("seed.iso").exists());
    fs::write(dir.path().join("user-data"), "#cloud-config\n").unwrap();
    let err = seed::write(dir.path(), MediaKind::Vfat).unwrap_err().to_string();
    assert!(err.contains("meta-data"), "{err}");
    // network-config is optional.
    fs::write(dir.path().join("meta-data"), "").unwrap();
    seed::write(dir.path(), MediaKind::Vfat).unwrap();
    assert_eq!(seed::read_node(dir.path()).unwrap().len(), 2);
}

#[test]
fn bake_with_media_writes_each_nodes_medium_listed_in_its_sums_and_check_agrees() {
    let Some(t) = tools() else { return };
    for (flag, kind) in [("iso", MediaKind::Iso), ("vfat", MediaKind::Vfat)] {
        let b = Bake::new(&spec());
        b.bake(&["--media", flag]).assert_ok();
        let sums = fs::read_to_string(b.out().join("SHA256SUMS")).unwrap();
        for node in ["cp-1", "worker-1"] {
            let dir = b.out().join(node);
            let expected: BTreeMap<String, Vec<u8>> = ["user-data", "meta-data", "network-config"]
                .into_iter()
                .map(|n| (n.to_string(), fs::read(dir.join(n)).unwrap()))
                .collect();
            let path = dir.join(kind.file_name());
            check_medium(&t, kind, &path, &expected);
            assert!(sums.contains(&format!("  {node}/{}\n", kind.file_name())), "{sums}");
            // The bake's medium is the one `seed::write` makes of the baked files, byte for byte.
            let baked = fs::read(&path).unwrap();
            assert!(seed::write(&dir, kind).unwrap() == path && fs::read(&path).unwrap() == baked, "{node}: {flag}");
        }
        // A re-bake with the same media changes nothing, and `check` finds the output sound.
        let before = snapshot(&b.out());
        b.bake(&["--media", flag]).assert_ok();
        assert!(snapshot(&b.out()) == before, "{flag}: a re-bake changed the output");
        let run = b.run(&["check", "cluster.yaml", "out"]);
        assert!(run.ok(), "{flag}: {}{}", run.stdout(), run.stderr());
        // A bake without the flag replaces the output whole: no medium left behind.
        b.bake(&[]).assert_ok();
        assert!(!b.out().join("cp-1").join(kind.file_name()).exists());
    }
}

#[test]
fn media_are_refused_for_ignition_nodes_naming_the_flag() {
    let s = include_str!("../examples/quickstart.yaml").replace("spec:\n", "spec:\n  os: flatcar\n");
    let b = Bake::new(&s);
    let run = b.bake(&["--media", "iso"]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("--media iso: a seed medium holds cloud-init's NoCloud files"), "{}", run.stderr());
    assert!(!b.out().exists(), "a refused bake wrote its output");
}
