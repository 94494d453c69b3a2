//! The node pack of an Ignition node, and of any node whose secrets are sealed. An
//! Ignition config carries bytes only as data URLs inside JSON, and kubebake's
//! compression over the whole config is base64-encoded again: PEM (base64 of DER) pays
//! base64 twice, a kubeconfig's embedded certificates (base64 of PEM) three times, and
//! gzip is the only compression Ignition knows. That kept an Ignition control plane over
//! EC2's 16 KB. So an Ignition node's files travel in one pack, compressed once (xz where
//! it counts): text as it is, PEM as its DER, and the PEM inside kubeconfigs as
//! references to the same DER, with a recipe saying how to rebuild each file. A sealed
//! node (`secrets.encryptTo`, either format) gets the same pack, compressed and then sealed
//! (src/deliver/seal.rs): sealed bytes do not compress, so its files must be compressed before.
//! The user-data itself places only what the machine needs before first boot (hostname,
//! network, units), the pack and its unpacker (`unpack.sh.tera`), which first boot runs
//! before anything else: it opens the seal if there is one, rebuilds every file byte for
//! byte, checks the digest the bake recorded over all of them, and only then places them.
//! The node ends up with exactly `OUT/<node>/rootfs`.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::node::pack_format::{DATA_LINE, MAGIC, PACK_GZ, PACK_XZ, UNPACKER};
use crate::node::plan::{NodePlan, PlannedFile};

/// Packs this large or larger are xz-compressed: below, every node fits every platform.
const XZ_FROM: usize = 16 * 1024;

/// The marker of a PEM block inside a packed text file's line: `@pem:OFFSET:LENGTH:LABEL`,
/// replaced on the node by the base64 of that block's PEM.
const MARK: &str = "@pem:";

/// What the user-data still places itself: what the machine reads at boot, before first
/// boot's unit runs (its name, its network), and the unpacker.
fn placed_before_first_boot(path: &str) -> bool {
    path == "/etc/hostname"
        || path == UNPACKER
        || path.starts_with("/etc/systemd/network/")
        || path.starts_with("/etc/NetworkManager/")
}

/// One PEM block, if `text` is exactly one block as kubebake writes it (64-column lines,
/// LF, nothing before or after): only then does rebuilding it give the same bytes.
fn exact_pem(text: &[u8]) -> Option<(String, Vec<u8>)> {
    if !text.starts_with(b"-----BEGIN ") {
        return None;
    }
    let block = pem::parse(text).ok()?;
    let label = block.tag().to_string();
    let der = block.into_contents();
    let safe_label = !label.is_empty() && label.bytes().all(|b| b.is_ascii_uppercase() || b == b' ');
    (safe_label && crate::pki::pem_encode(&label, &der).as_bytes() == text).then_some((label, der))
}

/// The PEM block that a line `<prefix>: <base64 of one exact PEM block>` embeds (a
/// kubeconfig's `certificate-authority-data:` and the like), with the prefix.
fn embedded_pem(line: &str) -> Option<(&str, String, Vec<u8>)> {
    let (prefix, value) = line.rsplit_once(": ")?;
    if value.len() < 40 {
        return None;
    }
    let text = B64.decode(value).ok()?;
    let (label, der) = exact_pem(&text)?;
    // Only a canonical encoding comes back the same from the node's `base64 -w 0`.
    (B64.encode(&text) == value).then(|| (&line[..prefix.len() + 2], label, der))
}

#[derive(Default)]
struct Packer {
    data: Vec<u8>,
    /// Where each PEM block already is, by label and DER: a CA in six files is packed once.
    blocks: HashMap<(String, Vec<u8>), (usize, usize)>,
    recipe: String,
    /// Over every rebuilt file, in recipe order: what the unpacker checks.
    digest: Sha256,
}

impl Packer {
    fn block(&mut self, label: String, der: Vec<u8>) -> String {
        let data = &mut self.data;
        let (offset, len) = *self.blocks.entry((label, der)).or_insert_with_key(|(_, der)| {
            data.extend_from_slice(der);
            (data.len() - der.len(), der.len())
        });
        format!("{offset} {len}")
    }

    fn add(&mut self, f: &PlannedFile) {
        let mode = f.mode;
        let path = &f.path;
        self.digest.update(&f.contents);
        if let Some((label, der)) = exact_pem(&f.contents) {
            let at = self.block(label.clone(), der);
            writeln!(self.recipe, "pem {mode:04o} {path} {at} {label}").expect("to a String");
            return;
        }
        // Text that `read -r` gives back line by line, as it is.
        match std::str::from_utf8(&f.contents) {
            Ok(text) if text.ends_with('\n') && !text.contains(['\r', '\0']) && !text.contains(MARK) => {
                writeln!(self.recipe, "text {mode:04o} {path} {}", text.lines().count()).expect("to a String");
                for line in text.lines() {
                    match embedded_pem(line) {
                        Some((prefix, label, der)) => {
                            let at = self.block(label.clone(), der).replace(' ', ":");
                            writeln!(self.recipe, "{prefix}{MARK}{at}:{label}").expect("to a String");
                        }
                        None => writeln!(self.recipe, "{line}").expect("to a String"),
                    }
                }
            }
            _ => {
                writeln!(self.recipe, "file {mode:04o} {path} {} {}", self.data.len(), f.contents.len())
                    .expect("to a String");
                self.data.extend_from_slice(&f.contents);
            }
        }
    }

    /// Header, recipe, the `data` line, then the data.
    fn finish(self) -> Vec<u8> {
        let digest = crate::fmt::hex(&self.digest.finalize());
        let mut out = format!("{MAGIC} {digest} {}\n{}{DATA_LINE}\n", self.data.len(), self.recipe).into_bytes();
        out.extend_from_slice(&self.data);
        out
    }
}

/// The uncompressed pack of `files`.
pub fn pack(files: &[&PlannedFile]) -> Vec<u8> {
    let mut packer = Packer::default();
    for f in files {
        packer.add(f);
    }
    packer.finish()
}

/// The plan as the user-data carries it: every file but those the user-data must place
/// itself replaced by the compressed pack; xz-compressed only when the node has `xz`
/// (Ignition's distributions) and the pack is large. Paths hold no whitespace (the spec's
/// checks see to it), as the recipe is split on it.
pub fn pack_plan(plan: &NodePlan, xz: bool) -> NodePlan {
    let (kept, packed): (Vec<&PlannedFile>, Vec<&PlannedFile>) =
        plan.files.iter().partition(|f| placed_before_first_boot(&f.path) || f.path.contains(char::is_whitespace));
    let mut out = NodePlan {
        name: plan.name.clone(),
        role: plan.role,
        pool: plan.pool.clone(),
        files: kept.into_iter().cloned().collect(),
        units: plan.units.clone(),
    };
    if !packed.is_empty() {
        let raw = pack(&packed);
        let (path, contents) = if xz && raw.len() >= XZ_FROM {
            (PACK_XZ, crate::deliver::xz(&raw))
        } else {
            (PACK_GZ, crate::deliver::gzip_document(&raw))
        };
        out.files.push(PlannedFile { path: path.into(), mode: 0o600, owner: "root:root", contents });
        out.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, mode: u32, contents: &[u8]) -> PlannedFile {
        PlannedFile { path: path.into(), mode, owner: "root:root", contents: contents.to_vec() }
    }

    #[test]
    fn pem_is_packed_as_der_once_text_as_it_is_and_anything_else_as_bytes() {
        let ca = crate::pki::pem_encode("CERTIFICATE", &[7u8; 300]);
        let key = crate::pki::pem_encode("EC PRIVATE KEY", &[9u8; 121]);
        let conf = format!("a:\n  certificate-authority-data: {}\n  x: y\n", B64.encode(&ca));
        let files = [
            file("/etc/kubernetes/admin.conf", 0o600, conf.as_bytes()),
            file("/etc/kubernetes/pki/ca.crt", 0o644, ca.as_bytes()),
            file("/etc/kubernetes/pki/ca.key", 0o600, key.as_bytes()),
            // Not exactly as kubebake writes PEM (CRLF), no final newline, binary: as bytes.
            file("/etc/crlf.pem", 0o644, ca.replace('\n', "\r\n").as_bytes()),
            file("/etc/partial", 0o644, b"no newline"),
        ];
        let mut digest = Sha256::new();
        files.iter().for_each(|f| digest.update(&f.contents));
        let packed = pack(&files.iter().collect::<Vec<_>>());
        let crlf_len = ca.len() + ca.lines().count();
        let head = format!(
            "{MAGIC} {} {}\n\
             text 0600 /etc/kubernetes/admin.conf 3\na:\n  certificate-authority-data: @pem:0:300:CERTIFICATE\n  x: y\n\
             pem 0644 /etc/kubernetes/pki/ca.crt 0 300 CERTIFICATE\n\
             pem 0600 /etc/kubernetes/pki/ca.key 300 121 EC PRIVATE KEY\n\
             file 0644 /etc/crlf.pem 421 {crlf_len}\nfile 0644 /etc/partial {} 10\ndata\n",
            crate::fmt::hex(&digest.finalize()),
            421 + crlf_len + 10,
            421 + crlf_len,
        );
        assert_eq!(String::from_utf8_lossy(&packed[..head.len()]), head);
        let data = &packed[head.len()..];
        assert_eq!((&data[..300], &data[300..421]), (&[7u8; 300][..], &[9u8; 121][..]));
        assert_eq!(&data[421 + crlf_len..], b"no newline");
    }

    #[test]
    fn ignition_keeps_what_boot_reads_and_gets_the_rest_as_one_pack() {
        let plan = NodePlan {
            name: "n".into(),
            role: crate::model::Role::Worker,
            pool: None,
            files: vec![
                file("/etc/hostname", 0o644, b"n\n"),
                file("/etc/kubernetes/pki/ca.crt", 0o644, crate::pki::pem_encode("CERTIFICATE", &[1; 9]).as_bytes()),
                file("/etc/systemd/network/10-eth0.network", 0o644, b"[Match]\n"),
                file(UNPACKER, 0o755, b"#!/bin/bash\n"),
            ],
            units: Vec::new(),
        };
        let packed = pack_plan(&plan, true);
        let paths: Vec<&str> = packed.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/etc/hostname", PACK_GZ, "/etc/systemd/network/10-eth0.network", UNPACKER]);
        let big: Vec<u8> = (0..XZ_FROM as u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        let mut large = plan.clone();
        large.files.push(file("/etc/big", 0o644, &big));
        assert!(pack_plan(&large, true).files.iter().any(|f| f.path == PACK_XZ));
        // A node without xz gets gzip, however large its pack.
        assert!(pack_plan(&large, false).files.iter().any(|f| f.path == PACK_GZ));
    }
}
