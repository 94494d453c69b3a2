//! `kubebake image`: a Packer template and its provisioning script for a node image that
//! satisfies `packages: prebaked`, with everything installed from the profile's packages or
//! from a `kubebake bundle`. Both are tera templates (`kubebake-node.pkr.hcl.tera`,
//! `provision.sh.tera`): text people read and may want to change.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::images;
use crate::node::templates::Templates;

/// The Packer template's file name in the output directory.
pub const TEMPLATE_FILE: &str = "kubebake-node.pkr.hcl";
/// The provisioning script's file name, beside the template, which the template runs.
pub const SCRIPT_FILE: &str = "provision.sh";

/// What `kubebake image` was asked for.
pub struct Options {
    /// The cluster spec the image is for (its version, OS profile and packages).
    pub spec: PathBuf,
    /// The directory the template and script are written to.
    pub out: PathBuf,
    /// Install from this bundle instead of the network.
    pub bundle: Option<PathBuf>,
    /// The identity that opens `secrets.encryptTo`'s seal; the image keeps it.
    pub age_identity: Option<PathBuf>,
    /// A directory of templates overriding the built-in ones by file name.
    pub templates: Option<PathBuf>,
}

/// What both templates see. Each value goes in through its format's filter (`sh` in the
/// script, `hcl` in the Packer template); words made of several values are built here.
#[derive(Serialize)]
struct Context {
    cluster: String,
    os: String,
    kubernetes_version: String,
    package_version: String,
    /// `kubelet=<version>-*` and the like: apt's pins, one word each.
    pinned_packages: Vec<String>,
    apt_repository: String,
    apt_release_key: String,
    apt_source: String,
    /// The text of a bundle's `manifest.json` that names the cluster's version.
    bundle_version_line: String,
    containerd_package: Option<String>,
    bundle: Option<String>,
    /// The bundle's sha256: provision.sh installs from that very file or refuses.
    bundle_sha256: Option<String>,
    images: Vec<String>,
    modules: String,
    sysctl: String,
    image_name: String,
    /// The identity to upload (absolute, on the build machine) and where the image keeps it.
    age_identity: Option<String>,
    age_identity_path: Option<String>,
    ssh_username: String,
    #[serde(flatten)]
    base: BaseImages,
}

/// Writes `TEMPLATE_FILE` and `SCRIPT_FILE` into `opts.out`; returns their paths.
pub fn write(opts: &Options) -> Result<Vec<PathBuf>> {
    let loaded = crate::spec::load(&opts.spec)?;
    let cluster = loaded.cluster;
    let profile = &cluster.os.profile;
    check_inputs(&cluster, opts)?;
    let templates = Templates::load(opts.templates.as_deref())?;
    let none = serde_json::json!({});
    let v = cluster.kubernetes_version;
    let package_version = format!("{}.{}.{}", v.major, v.minor, v.patch);
    let apt_repository = format!("https://pkgs.k8s.io/core:/stable:/v{}.{}/deb/", v.major, v.minor);
    let ctx = Context {
        cluster: cluster.name.clone(),
        os: profile.name.clone(),
        kubernetes_version: v.to_string(),
        pinned_packages: crate::node::firstboot::apt_pins(&package_version),
        package_version,
        apt_release_key: format!("{apt_repository}Release.key"),
        apt_source: crate::node::firstboot::apt_source(&apt_repository),
        apt_repository,
        bundle_version_line: crate::node::bundle_layout::manifest_version_line(&v.to_string()),
        containerd_package: profile.containerd_package.clone(),
        bundle: opts.bundle.as_ref().map(|b| absolute(b).display().to_string()),
        bundle_sha256: opts.bundle.as_deref().map(crate::files::file_sha256).transpose()?,
        images: images::images(&cluster)?.into_iter().map(|i| i.image).collect(),
        modules: templates.render("modules-load.conf.tera", &none)?,
        sysctl: templates.render("sysctl.conf.tera", &crate::node::firstboot::sysctl_context(&cluster))?,
        age_identity: opts.age_identity.as_ref().map(|f| absolute(f).display().to_string()),
        age_identity_path: cluster.sealing.as_ref().map(|s| s.identity.clone()),
        image_name: format!("kubebake-{}-{}", cluster.name, v),
        ssh_username: profile.login_user.clone(),
        base: base_images(profile),
    };
    let dir = &opts.out;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let mut written = Vec::new();
    for (file, template, mode) in
        [(TEMPLATE_FILE, "kubebake-node.pkr.hcl.tera", 0o644), (SCRIPT_FILE, "provision.sh.tera", 0o755)]
    {
        let path = dir.join(file);
        crate::files::write_file_atomic(&path, templates.render(template, &ctx)?.as_bytes(), mode)?;
        written.push(path);
    }
    Ok(written)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Refuses what cannot make a working image: no way to install packages, a bundle that is
/// not there, or a sealing spec without the identity that opens it (or the wrong one).
fn check_inputs(cluster: &crate::model::Cluster, opts: &Options) -> Result<()> {
    if opts.bundle.is_none() && cluster.os.profile.containerd_package.is_none() {
        return Err(Error::Usage(format!(
            "spec.os: {} installs no packages with apt; build its image from a bundle (--bundle FILE)",
            cluster.os.profile.name
        )));
    }
    if let Some(b) = &opts.bundle
        && !b.is_file()
    {
        return Err(Error::Usage(format!("--bundle {}: no such file (kubebake bundle makes it)", b.display())));
    }
    match (&cluster.sealing, &opts.age_identity) {
        (Some(s), None) => {
            return Err(Error::Usage(format!(
                "spec.secrets.encryptTo is set: the image must hold the identity of {} \
                 (--age-identity FILE; age-keygen makes one)",
                s.recipient
            )));
        }
        (None, Some(_)) => {
            return Err(Error::Usage("--age-identity: the spec seals nothing (no spec.secrets.encryptTo)".into()));
        }
        (Some(s), Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
            let own = crate::model::recipient::identity_recipient(&text)
                .map_err(|m| Error::Usage(format!("--age-identity {}: {m}", file.display())))?;
            if own != s.recipient {
                return Err(Error::Usage(format!(
                    "--age-identity {}: its recipient is {own}, not spec.secrets.encryptTo {}",
                    file.display(),
                    s.recipient
                )));
            }
        }
        (None, None) => {}
    }
    Ok(())
}

/// The Packer template's base-image variables.
#[derive(Serialize)]
struct BaseImages {
    /// The profile's base images (`baseImage`), the variables' defaults; without them the
    /// variables must be given, and the template's validation says so.
    qemu_source_image: String,
    qemu_source_checksum: String,
    ami_owner: Option<String>,
    ami_name: Option<String>,
    qemu_description: String,
    aws_description: String,
}

/// What the template starts from: the profile's base images, or none, which the template's
/// own validation then asks for by name.
fn base_images(profile: &crate::model::profile::Profile) -> BaseImages {
    BaseImages {
        qemu_source_image: profile.base_image.as_ref().map(|b| b.qcow2.clone()).unwrap_or_default(),
        qemu_source_checksum: profile.base_image.as_ref().map_or_else(|| "none".into(), |b| b.checksum.clone()),
        ami_owner: profile.base_image.as_ref().map(|b| b.ami_owner.clone()),
        ami_name: profile.base_image.as_ref().map(|b| b.ami_name.clone()),
        qemu_description: match &profile.base_image {
            Some(_) => {
                format!("A {} cloud image (qcow2) to start from; the default is the vendor's latest.", profile.name)
            }
            None => format!(
                "A {} cloud image (qcow2) to start from. Required: the profile names none; set -var qemu_source_image=PATH_OR_URL.",
                profile.name
            ),
        },
        aws_description: match &profile.base_image {
            Some(_) => format!("A {} AMI to start from; by default the vendor's newest.", profile.name),
            None => format!(
                "A {} AMI to start from. Required: the profile names none; set -var aws_source_ami=ami-….",
                profile.name
            ),
        },
    }
}
