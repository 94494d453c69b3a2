//! The names a node's pack travels under, shared by the bake that writes it
//! ([`crate::deliver::pack`]) and the first-boot unpacker that opens it.

/// The pack, xz-compressed (an Ignition control plane's: xz is a tenth smaller than gzip there).
pub const PACK_XZ: &str = "/etc/kubebake/node.pack.xz";
/// The pack, gzip'd (small nodes': fits anywhere, and gzip is five times faster; and every
/// cloud-init node's, as those images need not have xz).
pub const PACK_GZ: &str = "/etc/kubebake/node.pack.gz";
/// First boot's unpacker (rendered from `unpack.sh.tera`), run before the first-boot script.
pub const UNPACKER: &str = "/opt/kubebake/unpack.sh";
/// The recipe's first word: its format.
pub const MAGIC: &str = "kubebake-pack-1";
/// The line that ends the recipe; the data follows.
pub const DATA_LINE: &str = "data";
/// What a sealed file's path ends in: the pack `/etc/kubebake/node.pack.xz` travels as
/// `/etc/kubebake/node.pack.xz.age`.
pub const SEALED_SUFFIX: &str = ".age";

/// Whether `path` is a node's compressed pack.
pub fn is_pack(path: &str) -> bool {
    path == PACK_XZ || path == PACK_GZ
}
