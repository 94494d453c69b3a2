//! What kubebake knows of each Kubernetes minor it supports: the images and tools kubeadm
//! of that minor pins, and each way in which what kubeadm of that minor writes differs
//! from the others. One row per minor, read by everything that renders a node's files;
//! `docs/kubernetes-versions.md` says, per minor, what differs and where kubeadm's source
//! does it.

use std::fmt;

/// A Kubernetes release, `v1.36.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Always 1 for a supported release.
    pub major: u32,
    /// The minor release, which decides what kubeadm writes (see [`Minor`]).
    pub minor: u32,
    /// The patch release, which decides the packages and binaries installed.
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// `v1.36.3` or `1.36.3` of a supported minor; the error says what was wrong, and for
    /// an unsupported minor which ones are supported.
    pub fn parse(s: &str) -> Result<Version, String> {
        let bad = || format!("{s:?} is not a Kubernetes release version like {DEFAULT_VERSION}");
        let digits = s.strip_prefix('v').unwrap_or(s);
        let parts: Vec<&str> = digits.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(bad());
        };
        let num = |p: &str| -> Result<u32, String> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let v = Version { major: num(major)?, minor: num(minor)?, patch: num(patch)? };
        if v.major != 1 || !MINORS.iter().any(|m| m.minor == v.minor) {
            return Err(format!("{v} is not supported; kubebake supports {}", supported_list()));
        }
        Ok(v)
    }

    /// What kubeadm of this release does; every `Version` kubebake holds has passed
    /// [`Version::parse`], which admits only supported minors.
    pub fn kubeadm(self) -> Kubeadm {
        let minor = MINORS
            .iter()
            .find(|m| m.minor == self.minor)
            .unwrap_or_else(|| unreachable!("only supported minors are parsed, not 1.{}", self.minor));
        Kubeadm { minor, patch: self.patch }
    }

    /// `1.36`, as package repositories and release pages name a minor.
    pub fn minor_name(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

/// The version `kubebake init` writes and a spec without `kubernetesVersion` gets: the
/// newest supported minor, at the patch release its end-to-end tier was proven on.
pub const DEFAULT_VERSION: Version = Version { major: 1, minor: 36, patch: 3 };

/// How a CA's subject key identifier is derived from its public key: Go's `x509` without a
/// given one, under the GODEBUG defaults of the `go` line in kubeadm's `go.mod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIdHash {
    /// SHA-1 of the subjectPublicKey bits (RFC 5280 method 1), until Go 1.24.
    Sha1,
    /// The first 160 bits of their SHA-256, from Go 1.25 (`x509sha256skid`).
    Sha256,
}

/// From which patch release of its minor kubeadm does a thing: changes that upstream
/// back-ported land in a patch release, not at a minor's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Every release of the minor.
    Always,
    /// This patch release and the later ones.
    Patch(u32),
    /// No release of the minor (so far).
    Never,
}

impl Since {
    /// Whether a release of the minor with this patch number does it.
    pub fn at(self, patch: u32) -> bool {
        match self {
            Since::Always => true,
            Since::Patch(first) => patch >= first,
            Since::Never => false,
        }
    }
}

/// One supported minor. Each `bool` says whether kubeadm of this minor does the thing
/// named; what it does otherwise is said beside it. A [`Since`] says from which patch
/// release on (read from the history of each minor's tree: docs/kubernetes-versions.md).
#[derive(Debug, Clone, Copy)]
pub struct Minor {
    /// The minor's number: 36 for v1.36.
    pub minor: u32,
    /// The patch release this minor was proven on in the end-to-end tier.
    pub proven_patch: u32,
    /// The day upstream stops patching the minor (kubernetes.io/releases), `YYYY-MM-DD`.
    pub end_of_life: &'static str,
    /// The etcd image tag kubeadm pins (`constants.go`: DefaultEtcdVersion), from each
    /// patch release on where it changed: `(first patch, tag)`, oldest first.
    pub etcd_tags: &'static [(u32, &'static str)],
    /// The pause image tag kubeadm pins (PauseVersion).
    pub pause: &'static str,
    /// The CoreDNS image tag kubeadm pins (CoreDNSVersion).
    pub coredns: &'static str,
    /// The CNI reference plugins a node of that minor gets (`kubebake bundle`): the
    /// release the tree's `build/dependencies.yaml` names from 1.35 on, and the packages'
    /// `kubernetes-cni` before.
    pub cni_plugins: &'static str,
    /// crictl, from cri-tools of the same minor (what the packages' cri-tools brings).
    pub cri_tools: &'static str,
    /// Static pod manifests carry `creationTimestamp: null` (until 1.33: from 1.34 Go's
    /// serialisation leaves the zero timestamp out, `omitzero`).
    pub manifest_creation_timestamp: bool,
    /// How kubeadm's CAs get their subject key identifier (its leaves carry it as their
    /// authority key identifier): `go 1.24` in 1.33's and 1.34's go.mod, 1.25 from 1.35.
    pub ca_key_id: KeyIdHash,
    /// kubeconfigs carry `preferences: {}` (until 1.33: from 1.34 client-go leaves the
    /// empty struct out, `omitzero`).
    pub kubeconfig_preferences: bool,
    /// Probes name the container port `probe-port` (declared on the container) instead of
    /// giving its number (1.34+).
    pub named_probe_port: bool,
    /// etcd gets etcd 3.6's flag names, `--feature-gates=InitialCorruptCheck=true` and
    /// `--watch-progress-notify-interval`, instead of their `--experimental-` forms:
    /// kubeadm 1.34 and 1.35 choose them for an etcd image of 3.6 or later, which is what
    /// they pin; 1.36 always.
    pub etcd_3_6_flags: bool,
    /// The `NodeLocalCRISocket` feature gate is on (beta 1.34, GA 1.36): the CRI socket
    /// lives in `/var/lib/kubelet/instance-config.yaml`, which kubeadm merges into the
    /// kubelet's `config.yaml` (`containerRuntimeEndpoint`), and `kubeadm-flags.env` no
    /// longer carries `--container-runtime-endpoint`.
    pub node_local_cri_socket: bool,
    /// `kubeadm-flags.env` carries `--pod-infra-container-image` (until 1.34; the 1.35
    /// kubelet refuses the flag).
    pub pause_image_flag: bool,
    /// kube-controller-manager mounts the flexvolume plugin directory (until 1.35).
    pub flexvolume_mount: bool,
    /// A component's extra args follow its default flags (sorted by name, the overridden
    /// ones left out) in the order given, instead of being sorted in among them.
    pub extra_args_last_since: Since,
    /// kubeadm binds `apiserver-kubelet-client` to `system:kubelet-api-admin` by name (in
    /// init's bootstrap-token phase) instead of putting it in group `kubeadm:cluster-admins`.
    pub kubelet_api_admin_since: Since,
}

/// Every supported minor, oldest first. Where a patch release changed something, the
/// first patch kubebake's sources show it in is given; docs/kubernetes-versions.md says
/// which of those may have landed one release earlier (a release the sources lack).
pub const MINORS: &[Minor] = &[
    Minor {
        minor: 33,
        proven_patch: 3,
        end_of_life: "2026-06-28",
        etcd_tags: &[(0, "3.5.21-0"), (6, "3.5.24-0")],
        pause: "3.10",
        coredns: "v1.12.0",
        cni_plugins: "v1.7.1",
        cri_tools: "v1.33.0",
        manifest_creation_timestamp: true,
        ca_key_id: KeyIdHash::Sha1,
        kubeconfig_preferences: true,
        named_probe_port: false,
        etcd_3_6_flags: false,
        node_local_cri_socket: false,
        pause_image_flag: true,
        flexvolume_mount: true,
        extra_args_last_since: Since::Patch(8),
        kubelet_api_admin_since: Since::Patch(12),
    },
    Minor {
        minor: 34,
        proven_patch: 9,
        end_of_life: "2026-10-27",
        etcd_tags: &[(0, "3.6.4-0"), (2, "3.6.5-0")],
        pause: "3.10.1",
        coredns: "v1.12.1",
        cni_plugins: "v1.7.1",
        cri_tools: "v1.34.0",
        manifest_creation_timestamp: false,
        ca_key_id: KeyIdHash::Sha1,
        kubeconfig_preferences: false,
        named_probe_port: true,
        etcd_3_6_flags: true,
        node_local_cri_socket: true,
        pause_image_flag: true,
        flexvolume_mount: true,
        extra_args_last_since: Since::Patch(4),
        kubelet_api_admin_since: Since::Patch(8),
    },
    Minor {
        minor: 35,
        proven_patch: 6,
        end_of_life: "2027-02-28",
        etcd_tags: &[(0, "3.6.6-0")],
        pause: "3.10.1",
        coredns: "v1.13.1",
        cni_plugins: "v1.8.0",
        cri_tools: "v1.35.0",
        manifest_creation_timestamp: false,
        ca_key_id: KeyIdHash::Sha256,
        kubeconfig_preferences: false,
        named_probe_port: true,
        etcd_3_6_flags: true,
        node_local_cri_socket: true,
        pause_image_flag: false,
        flexvolume_mount: true,
        extra_args_last_since: Since::Always,
        kubelet_api_admin_since: Since::Patch(5),
    },
    Minor {
        minor: 36,
        proven_patch: 3,
        end_of_life: "2027-06-28",
        etcd_tags: &[(0, "3.6.8-0")],
        pause: "3.10.2",
        coredns: "v1.14.2",
        cni_plugins: "v1.9.1",
        cri_tools: "v1.36.0",
        manifest_creation_timestamp: false,
        ca_key_id: KeyIdHash::Sha256,
        kubeconfig_preferences: false,
        named_probe_port: true,
        etcd_3_6_flags: true,
        node_local_cri_socket: true,
        pause_image_flag: false,
        flexvolume_mount: false,
        extra_args_last_since: Since::Always,
        kubelet_api_admin_since: Since::Patch(1),
    },
];

impl Minor {
    /// `v1.36.3`: the release of this minor kubebake was proven on.
    pub fn proven_version(&self) -> Version {
        Version { major: 1, minor: self.minor, patch: self.proven_patch }
    }

    /// Whether upstream's support had ended by `today` (`YYYY-MM-DD`, compared as text).
    pub fn past_end_of_life(&self, today: &str) -> bool {
        today > self.end_of_life
    }
}

/// What kubeadm of one release does: its minor's row, read at its patch release. The
/// minor's fields are there as they are (`Deref`); what a patch release changed is a
/// method.
#[derive(Debug, Clone, Copy)]
pub struct Kubeadm {
    minor: &'static Minor,
    patch: u32,
}

impl std::ops::Deref for Kubeadm {
    type Target = Minor;

    fn deref(&self) -> &Minor {
        self.minor
    }
}

impl Kubeadm {
    /// The etcd image tag this release pins.
    pub fn etcd(&self) -> &'static str {
        self.minor.etcd_tags.iter().rev().find(|(first, _)| self.patch >= *first).map_or("", |(_, tag)| tag)
    }

    /// Whether extra args come after the default flags ([`Minor::extra_args_last_since`]).
    pub fn extra_args_last(&self) -> bool {
        self.minor.extra_args_last_since.at(self.patch)
    }

    /// Whether `apiserver-kubelet-client` is in group `kubeadm:cluster-admins`.
    pub fn kubelet_client_in_cluster_admins(&self) -> bool {
        !self.minor.kubelet_api_admin_since.at(self.patch)
    }

    /// `--name=value` flags as kubeadm of this release writes a component's command line or
    /// the kubelet's flags file (`ArgumentsToCommand`): `defaults`, each replaced by an
    /// override of the same name, and the overrides, in the order given (kubebake gives
    /// them sorted by name, as it writes them into kubeadm's configuration).
    pub fn arguments<'a>(
        &self,
        defaults: impl IntoIterator<Item = (&'a str, &'a str)>,
        overrides: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Vec<String> {
        let overridden: Vec<&str> = overrides.clone().into_iter().map(|(name, _)| name).collect();
        let mut args: Vec<(&str, &str)> = defaults.into_iter().filter(|(name, _)| !overridden.contains(name)).collect();
        args.sort();
        args.extend(overrides);
        if !self.extra_args_last() {
            args.sort();
        }
        args.into_iter().map(|(name, value)| format!("--{name}={value}")).collect()
    }
}

/// `v1.33.x, v1.34.x, v1.35.x, v1.36.x`.
pub fn supported_list() -> String {
    MINORS.iter().map(|m| format!("v1.{}.x", m.minor)).collect::<Vec<_>>().join(", ")
}

/// `<repo>/<name>:<tag>`.
pub fn image(repository: &str, name: &str, tag: &str) -> String {
    format!("{repository}/{name}:{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_name_the_supported_minors() {
        assert_eq!(Version::parse("v1.36.3").unwrap().to_string(), "v1.36.3");
        assert_eq!(Version::parse("1.34.0").unwrap().to_string(), "v1.34.0");
        for bad in ["", "v1", "v1.36", "v1.36.3.1", "v1.036.3", "v1.36.x", "1.36.3-rc.0", "v2.36.3"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        let e = Version::parse("v1.32.9").unwrap_err();
        assert_eq!(e, "v1.32.9 is not supported; kubebake supports v1.33.x, v1.34.x, v1.35.x, v1.36.x");
        assert_eq!(Version::parse("v1.37.0").unwrap_err(), e.replace("v1.32.9", "v1.37.0"));
    }

    #[test]
    fn the_default_is_the_newest_minor_as_proven() {
        let newest = MINORS.last().unwrap();
        assert_eq!(DEFAULT_VERSION, newest.proven_version());
        assert!(MINORS.windows(2).all(|w| w[0].minor + 1 == w[1].minor && w[0].end_of_life < w[1].end_of_life));
    }

    #[test]
    fn extra_args_replace_defaults_and_come_last_from_the_release_that_moved_them() {
        let defaults = [("b", "1"), ("d", "2"), ("a", "3")];
        let kubeadm = |v: &str| Version::parse(v).unwrap().kubeadm();
        let overrides = [("c", "x"), ("d", "y")];
        assert_eq!(kubeadm("v1.34.3").arguments(defaults, overrides), ["--a=3", "--b=1", "--c=x", "--d=y"]);
        assert_eq!(kubeadm("v1.34.4").arguments(defaults, overrides), ["--a=3", "--b=1", "--c=x", "--d=y"]);
        let overrides = [("a", "z"), ("c", "x")];
        for sorted in ["v1.33.3", "v1.33.7", "v1.34.0", "v1.34.3"] {
            assert_eq!(
                kubeadm(sorted).arguments(defaults, overrides),
                ["--a=z", "--b=1", "--c=x", "--d=2"],
                "{sorted}"
            );
        }
        for last in ["v1.33.8", "v1.34.4", "v1.34.9", "v1.35.0", "v1.36.3"] {
            assert_eq!(kubeadm(last).arguments(defaults, overrides), ["--b=1", "--d=2", "--a=z", "--c=x"], "{last}");
        }
    }

    #[test]
    fn what_a_patch_release_changed_follows_the_patch() {
        let kubeadm = |v: &str| Version::parse(v).unwrap().kubeadm();
        assert_eq!(kubeadm("v1.33.5").etcd(), "3.5.21-0");
        assert_eq!(kubeadm("v1.33.6").etcd(), "3.5.24-0");
        assert_eq!(kubeadm("v1.34.1").etcd(), "3.6.4-0");
        assert_eq!(kubeadm("v1.34.9").etcd(), "3.6.5-0");
        assert!(kubeadm("v1.34.7").kubelet_client_in_cluster_admins());
        assert!(!kubeadm("v1.34.8").kubelet_client_in_cluster_admins());
        assert!(kubeadm("v1.36.0").kubelet_client_in_cluster_admins());
        assert!(!kubeadm("v1.36.1").kubelet_client_in_cluster_admins());
        // Every minor names an etcd tag from its first release on.
        assert!(MINORS.iter().all(|m| m.etcd_tags.first().is_some_and(|(first, _)| *first == 0)));
    }

    #[test]
    fn end_of_life_is_a_date_comparison() {
        let m = DEFAULT_VERSION.kubeadm();
        assert!(!m.past_end_of_life("2026-12-07"));
        assert!(!m.past_end_of_life(m.end_of_life));
        assert!(m.past_end_of_life("2027-06-29"));
    }
}
