//! The output tree across re-bakes: left alone when nothing changed, otherwise swapped in
//! whole, with unchanged files carried over as hard links (the same inode) instead of being
//! written again, and nothing trusted that was changed by hand.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;

fn inode(path: &std::path::Path) -> u64 {
    fs::metadata(path).unwrap().ino()
}

#[test]
fn a_rebake_keeps_unchanged_files_and_rewrites_only_what_changed() {
    let b = Bake::new(&ha_spec(2, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    let worker_ca = b.pki("worker-1", "ca.crt");
    let worker_ud = b.out().join("worker-1/user-data");
    let cp_config = b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml");
    let (ca_ino, ud_ino, cp_ino) = (inode(&worker_ca), inode(&worker_ud), inode(&cp_config));

    // Nothing changed: nothing is written, not even a new tree swapped in (the output
    // directory is the same one), and every file is the one that was there.
    let out_ino = inode(&b.out());
    b.bake(&[]).assert_ok();
    assert_eq!(snapshot(&b.out()), before);
    assert_eq!(inode(&b.out()), out_ino, "an unchanged re-bake built a new tree");
    assert_eq!((inode(&worker_ca), inode(&worker_ud), inode(&cp_config)), (ca_ino, ud_ino, cp_ino));

    // A file changed by hand in the output is not carried over: the bake restores it.
    fs::write(&worker_ud, "#cloud-config\n{}\n").unwrap();
    b.bake(&[]).assert_ok();
    assert_eq!(snapshot(&b.out()), before);
    assert_ne!(inode(&worker_ud), ud_ino, "the edited user-data was linked instead of rewritten");
    assert_ne!(inode(&b.out()), out_ino, "a changed output must be swapped in whole");
    assert_eq!(inode(&worker_ca), ca_ino);

    // A spec change that touches the control planes only: the workers' files stay.
    let spec = fs::read_to_string(b.spec_path()).unwrap();
    b.set_spec(&spec.replacen("  pki:\n", "  pki:\n    apiServerCertSANs: [10.0.0.10]\n", 1));
    b.bake(&[]).assert_ok();
    let changed = fs::read(&cp_config).unwrap() != before["cp-1/rootfs/etc/kubebake/kubeadm-config.yaml"].0;
    assert!(changed, "the SAN did not reach cp-1's kubeadm configuration");
    assert_ne!(inode(&cp_config), cp_ino);
    assert_eq!(inode(&worker_ca), ca_ino);
    // Every file the output lists is as SHA256SUMS says, linked or written.
    run_ok(std::process::Command::new("sha256sum").args(["--check", "--quiet", "SHA256SUMS"]).current_dir(b.out()));
    // Nothing but the output and the state beside them: no staging left behind.
    let mut beside: Vec<String> =
        fs::read_dir(b.path("")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    beside.sort();
    assert_eq!(beside, [".cluster.state.lock", "cluster.state", "cluster.yaml", "out"]);
}
