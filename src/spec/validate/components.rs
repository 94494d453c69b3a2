//! How kubeadm runs the control plane and where its images come from: preflight checks to
//! ignore, the image repository, the components' extra flags, and containerd's registry
//! mirrors.

use std::collections::BTreeMap;

use crate::model::ExtraArgs;
use crate::spec::checker::Checker;
use crate::spec::grammar::{self, UrlUse};
use crate::spec::{Scalar, Spec};

const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";

/// kubeadm's preflight check names, without repeats, sorted.
pub(super) fn check_preflight_errors(c: &mut Checker, checks: &[String]) -> Vec<String> {
    let mut ignore = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        if c.rule(&format!("spec.ignorePreflightErrors[{i}]"), grammar::preflight_check(check))
            && !ignore.contains(check)
        {
            ignore.push(check.clone());
        }
    }
    ignore.sort();
    ignore
}

/// kubeadm's `imageRepository`, defaulted to registry.k8s.io.
pub(super) fn check_image_repository(c: &mut Checker, repository: Option<&str>) -> String {
    let image_repository = repository.unwrap_or(DEFAULT_IMAGE_REPOSITORY).to_string();
    c.rule("spec.imageRepository", grammar::image_repository(&image_repository));
    image_repository
}

/// Each control-plane component's extra flags.
pub(super) fn check_extra_args(c: &mut Checker, spec: &Spec) -> ExtraArgs {
    ExtraArgs {
        api_server: extra_args(c, "spec.apiServer.extraArgs", &spec.api_server.extra_args),
        controller_manager: extra_args(c, "spec.controllerManager.extraArgs", &spec.controller_manager.extra_args),
        scheduler: extra_args(c, "spec.scheduler.extraArgs", &spec.scheduler.extra_args),
        etcd: extra_args(c, "spec.etcd.extraArgs", &spec.etcd.extra_args),
    }
}

/// One component's flags: names without dashes, each value one scalar on one line.
fn extra_args(c: &mut Checker, path: &str, args: &BTreeMap<String, Scalar>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in args {
        let field = format!("{path}.{name}");
        if let Some(bare) = name.strip_prefix("--") {
            c.error(&field, format!("write the flag without its dashes: {bare}"));
            continue;
        }
        if !c.rule(&field, grammar::flag_name(name)) {
            continue;
        }
        let text = match value {
            Scalar::String(s) | Scalar::Number(s) => s.clone(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null | Scalar::Collection => {
                c.error(&field, "must be a single value (string, number or boolean)");
                continue;
            }
        };
        if c.rule(&field, grammar::flag_value(&text)) {
            out.insert(name.clone(), text);
        }
    }
    out
}

/// containerd's mirrors: a registry host, then mirror URLs tried in order.
pub(super) fn check_registry_mirrors(
    c: &mut Checker,
    mirrors: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    for (host, urls) in mirrors {
        let path = format!("spec.registryMirrors.{host}");
        // The host names a directory on the node (certs.d/<host>/) and the server containerd
        // falls back to (https://<host>).
        c.rule(&path, grammar::registry_host(host));
        if urls.is_empty() {
            c.error(&path, "lists no mirror");
        }
        for (i, u) in urls.iter().enumerate() {
            c.rule(&format!("{path}[{i}]"), grammar::url(u, UrlUse::Mirror));
        }
    }
    mirrors.clone()
}
