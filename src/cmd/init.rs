//! `kubebake init`: a commented cluster spec from a few flags, valid as written (it is
//! checked by the same validation as any spec before it is shown or written).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cmd::report::{Report, Text};
use crate::error::{Error, Result};
use crate::node::templates::Templates;

/// What goes into the spec, flag by flag.
pub struct Options {
    /// metadata.name.
    pub name: String,
    /// How many control planes (cp-1, …).
    pub control_planes: usize,
    /// How many workers (worker-1, …).
    pub workers: usize,
    /// The first control plane's address; the others follow it, workers start 10 later.
    pub first_address: IpAddr,
    /// The API endpoint; the first control plane when None.
    pub endpoint: Option<String>,
    /// The OS profile's name.
    pub os: String,
    /// Pod addresses.
    pub pod_subnet: String,
    /// Service addresses.
    pub service_subnet: String,
    /// The Kubernetes version, as given.
    pub kubernetes_version: String,
    /// calico or none.
    pub cni: String,
}

/// Where the spec goes.
pub struct Target {
    /// `-o FILE`; stdout when None.
    pub out: Option<PathBuf>,
    /// `--force`: overwrite FILE.
    pub force: bool,
    /// `--templates DIR`.
    pub templates: Option<PathBuf>,
}

/// The spec, shown or written.
pub enum Init {
    /// The spec's text, for stdout.
    Shown(String),
    /// The file the spec was written to.
    Written(PathBuf),
}

/// Renders the spec and writes it to `-o FILE` (refused if it exists, unless forced), or
/// hands it back for stdout.
pub fn run(opts: &Options, target: Target) -> Result<Init> {
    if let Some(path) = target.out.as_ref().filter(|p| p.exists() && !target.force) {
        return Err(Error::Usage(format!("-o {}: exists; pass --force to overwrite it", path.display())));
    }
    let templates = Templates::load(target.templates.as_deref())?;
    let text = render(opts, &templates)?;
    match target.out {
        Some(path) => {
            crate::files::write_file_atomic(&path, text.as_bytes(), 0o644)?;
            Ok(Init::Written(path))
        }
        None => Ok(Init::Shown(text)),
    }
}

impl Report for Init {
    fn text(&self, out: &mut Text) {
        match self {
            Init::Shown(text) => out.raw(text.as_str()),
            Init::Written(path) => {
                out.note(format_args!("wrote {}; next: kubebake bake {} -o out", path.display(), path.display()))
            }
        }
    }
}

#[derive(Serialize)]
struct NodeCtx {
    name: String,
    address: String,
}

#[derive(Serialize)]
struct Context<'a> {
    name: &'a str,
    kubernetes_version: &'a str,
    /// `v1.33.x, …`: what the comment above kubernetesVersion offers.
    supported_versions: String,
    endpoint: Option<&'a str>,
    os: &'a str,
    pod_subnet: &'a str,
    service_subnet: &'a str,
    cni: &'a str,
    control_planes: Vec<NodeCtx>,
    workers: Vec<NodeCtx>,
}

/// `base` + `n`, refusing to run past the end of the address space.
fn nth(base: IpAddr, n: usize) -> Option<IpAddr> {
    let n = u128::try_from(n).ok()?;
    match base {
        IpAddr::V4(v4) => u32::try_from(u128::from(u32::from(v4)) + n).ok().map(|a| IpAddr::V4(a.into())),
        IpAddr::V6(v6) => u128::from(v6).checked_add(n).map(|a| IpAddr::V6(a.into())),
    }
}

/// The spec's text. Errors name the flag; the text is validated as a spec before it is returned.
pub fn render(opts: &Options, templates: &Templates) -> Result<String> {
    if opts.control_planes == 0 {
        return Err(Error::Usage("--control-planes: a cluster needs at least one control plane".into()));
    }
    let worker_offset = opts.control_planes.max(10);
    let node = |prefix: &str, i: usize, offset: usize| -> Result<NodeCtx> {
        let address = nth(opts.first_address, offset + i).ok_or_else(|| {
            Error::Usage(format!("--first-address {}: no room for {prefix}-{} after it", opts.first_address, i + 1))
        })?;
        Ok(NodeCtx { name: format!("{prefix}-{}", i + 1), address: address.to_string() })
    };
    let control_planes = (0..opts.control_planes).map(|i| node("cp", i, 0)).collect::<Result<Vec<_>>>()?;
    let workers = (0..opts.workers).map(|i| node("worker", i, worker_offset)).collect::<Result<Vec<_>>>()?;
    if !matches!(opts.cni.as_str(), "calico" | "none") {
        return Err(Error::Usage(format!("--cni {}: calico or none", opts.cni)));
    }
    let ctx = Context {
        name: &opts.name,
        kubernetes_version: &opts.kubernetes_version,
        supported_versions: crate::model::versions::supported_list(),
        endpoint: opts.endpoint.as_deref(),
        os: &opts.os,
        pod_subnet: &opts.pod_subnet,
        service_subnet: &opts.service_subnet,
        cni: &opts.cni,
        control_planes,
        workers,
    };
    let text = templates.render("init-spec.yaml.tera", &ctx)?;
    // Whatever the flags said, what is shown must be a spec that validates: the problems
    // are reported as flags would be (their field paths name the flag's field).
    crate::spec::parse(&text, Path::new("kubebake init")).map_err(|e| match e {
        Error::Spec(p) => Error::Usage(format!("the flags make no valid spec:\n{p}")),
        other => other,
    })?;
    Ok(text)
}
