//! The command line, in one place: each subcommand's flags and their help.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Bakes kubeadm clusters into per-node files, offline and reproducibly.
#[derive(Debug, Parser)]
#[command(name = "kubebake", version, about, help_expected = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, PartialEq, clap::Args)]
pub struct Global {
    /// Print only what the command produces (data, JSON, errors), no reports or notes.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl Cli {
    /// Parses the command line. clap builds the definitions of every subcommand to parse
    /// one, a tenth of a small bake; `bake`, the command run most (and in loops), is tried
    /// alone first. Whatever that does not take as a bake (help, a mistake, another
    /// command) goes to the full parser, so every message is the full CLI's.
    pub fn parse_args() -> Cli {
        Cli::bake_alone(std::env::args_os()).unwrap_or_else(Cli::parse)
    }

    fn bake_alone(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<Cli> {
        use clap::{Args, FromArgMatches};
        let bake = BakeArgs::augment_args(clap::Command::new("bake"));
        let cmd = Global::augment_args(clap::Command::new("kubebake")).subcommand(bake).subcommand_required(true);
        let matches = cmd.try_get_matches_from(args).ok()?;
        let global = Global::from_arg_matches(&matches).ok()?;
        let args = BakeArgs::from_arg_matches(matches.subcommand_matches("bake")?).ok()?;
        Some(Cli { global, command: Command::Bake(args) })
    }
}

/// The subcommands, each with its flags; `main` hands each to its `kubebake::cmd` module.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented cluster spec from a few flags, valid as written, to stdout or -o
    /// FILE: the place to start instead of copying an example.
    #[command(after_help = "Examples:\n  kubebake init > cluster.yaml\n  \
                            kubebake init --name prod --control-planes 3 --workers 5 --first-address 10.1.0.11 \\\n      \
                            --endpoint k8s-api.prod.internal:6443 --os debian-12 -o cluster.yaml")]
    Init {
        /// Write the spec to FILE (refused if it exists, unless --force).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite -o FILE.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        spec: InitSpec,
        /// A directory of templates overriding the built-in ones (init-spec.yaml.tera).
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Bake a cluster spec into OUT/<node>/rootfs/… for every node, plus the operator's
    /// kubeconfig (OUT/admin.conf) and OUT/SHA256SUMS.
    #[command(after_help = "Examples:\n  kubebake bake cluster.yaml -o out\n  \
                            kubebake bake cluster.yaml -o out --platform aws --json\n  \
                            kubebake bake cluster.yaml -o out --state /secure/cluster.state --templates my-templates")]
    Bake(BakeArgs),
    /// List every container image the cluster will run, pinned, one per line: kubeadm's set
    /// (as `kubeadm config images list` prints it), kube-vip, Calico's. What an air-gapped
    /// install must mirror or bundle. Writes nothing.
    #[command(after_help = "Examples:\n  kubebake images cluster.yaml\n  \
                            kubebake images cluster.yaml --json | jq -r '.images[] | select(.source == \"calico\") | .image'")]
    Images {
        /// The cluster spec.
        spec: PathBuf,
        /// Print JSON: {"images": [{"image": ..., "source": "kubeadm"|"kube-vip"|"calico"}]}.
        #[arg(long)]
        json: bool,
    },
    #[cfg(feature = "bundle")]
    /// Fetch, once, on a connected machine, everything the cluster's nodes would download
    /// (kubeadm, kubelet, kubectl, the CNI plugins, every image, Calico's manifests), check
    /// each against its published sha256 or digest, and write one deterministic archive for
    /// `packages: bundle` nodes. Resumable: finished downloads wait in FILE.parts/.
    #[command(after_help = "Examples:\n  kubebake bundle cluster.yaml -o bundle.tar\n  \
                            kubebake bundle cluster.yaml -o bundle.tar --arch arm64 --rewrite https://dl.k8s.io/=https://mirror.internal/k8s/")]
    Bundle {
        /// The cluster spec; its registryMirrors are used to pull images.
        spec: PathBuf,
        /// The archive to write (a tar file); replaced only once complete.
        #[arg(short, long)]
        out: PathBuf,
        /// The nodes' CPU architecture.
        #[arg(long, default_value = "amd64", value_parser = ["amd64", "arm64"])]
        arch: String,
        /// Rewrite download URLs starting with FROM to start with TO instead, e.g.
        /// https://dl.k8s.io/=https://mirror.internal/k8s/ (repeatable).
        #[arg(long, value_name = "FROM=TO")]
        rewrite: Vec<String>,
        /// Pins of your own, beside kubebake's (JSON: {"downloads": {URL: sha256},
        /// "images": {IMAGE: "sha256:…"}}): what has a pin is checked against it, whatever
        /// its origin serves.
        #[arg(long, value_name = "FILE")]
        pins: Option<PathBuf>,
        /// Take a download or image that has no pin on its origin's word (its published
        /// .sha256, the registry's digest) instead of refusing it; manifest.json says which.
        #[arg(long)]
        trust_origin: bool,
        /// Print the summary as JSON: {"out", "bytes", "binaries", "images", "calico", "seconds"}.
        #[arg(long)]
        json: bool,
    },
    /// Write a Packer template (qemu and amazon-ebs sources) and its provisioning script
    /// for a node image that satisfies `packages: prebaked`: containerd, kubeadm, kubelet,
    /// kubectl and every image of the cluster, from the profile's packages or a bundle.
    #[command(after_help = "Examples:\n  kubebake image cluster.yaml -o image && (cd image && packer build .)\n  \
                            kubebake image cluster.yaml -o image --bundle bundle.tar --age-identity age.key")]
    Image {
        /// The cluster spec.
        spec: PathBuf,
        /// Directory for kubebake-node.pkr.hcl and provision.sh (created if missing).
        #[arg(short, long)]
        out: PathBuf,
        /// Install everything from this bundle (kubebake bundle) instead of the network.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// The age identity (age-keygen) whose recipient is the spec's secrets.encryptTo;
        /// the image keeps it, 0600, where first boot opens the sealed secrets with it.
        #[arg(long, value_name = "FILE")]
        age_identity: Option<PathBuf>,
        /// A directory of templates overriding the built-in ones by file name
        /// (kubebake-node.pkr.hcl.tera, provision.sh.tera, …).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Print the files written as JSON: {"written": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Show what a state holds: every certificate (subject, SANs, issuer, expiry, days
    /// left, key algorithm), the tokens (never a secret) and the CA pin. Writes nothing.
    #[command(after_help = "Examples:\n  kubebake inspect cluster.state\n  \
                            kubebake inspect cluster.state --json | jq '.certificates[] | select(.daysLeft < 30)'")]
    Inspect {
        /// The state directory (a bake made it; default beside the spec: <spec>.state).
        state: PathBuf,
        /// Print JSON: {"cluster", "caCertHash", "certificates": [...], "tokens": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Check an output directory before it is uploaded: SHA256SUMS, every certificate
    /// chained to the state's CAs and matching its key, every file what the spec and state
    /// give now, and what expires soon. Exits non-zero on any problem, naming it.
    #[command(after_help = "Examples:\n  kubebake check cluster.yaml out\n  \
                            kubebake check cluster.yaml out --warn 60d --json")]
    Check {
        /// The cluster spec the output was baked from.
        spec: PathBuf,
        /// The output directory (kubebake bake -o OUT).
        out: PathBuf,
        /// State directory [default: <spec>.state beside the spec].
        #[arg(long)]
        state: Option<PathBuf>,
        /// The templates directory the bake used, if any.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Warn about certificates and the join token expiring within this window (30d,
        /// 720h, 90m).
        #[arg(long, default_value = "30d")]
        warn: String,
        /// Print JSON: {"filesChecked", "certificatesChecked", "findings": [{"severity", "message"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Print the script that takes a node out of the running cluster for good: drain, its
    /// etcd member (a control plane's), its Node object. For a node already gone from the
    /// spec; you read it and run it with the cluster's admin kubeconfig.
    #[command(after_help = "Examples:\n  kubebake retire cluster.yaml worker-3 > retire-worker-3.sh\n  \
                            KUBECONFIG=out/admin.conf bash retire-worker-3.sh")]
    Retire {
        /// The cluster spec, which no longer lists NODE.
        spec: PathBuf,
        /// The node to retire.
        node: String,
        /// How long the script's drain may take before it gives up (a Go duration).
        #[arg(long, default_value = "5m")]
        drain_timeout: String,
        /// A directory of templates overriding the built-in ones (retire.sh.tera).
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Reissue the state's certificates that expire within a window (or those named),
    /// keeping their keys unless asked, and say which nodes' files change and how to roll
    /// them. The CAs are not renewed.
    #[command(
        after_help = "Examples:\n  kubebake renew cluster.state                  # what expires within 30 days\n  \
                            kubebake renew cluster.state apiserver admin.conf\n  \
                            kubebake renew cluster.state nodes/cp-2/pki/etcd/peer --new-keys"
    )]
    Renew {
        /// The state directory (a bake made it; default beside the spec: <spec>.state).
        state: PathBuf,
        /// Certificates to renew: state names as `kubebake inspect` lists them, kubeadm's
        /// names (apiserver, etcd-peer, admin.conf, …: on every node that has one), or all.
        names: Vec<String>,
        /// Renew what expires within this window [default: 30d when no NAMES are given].
        #[arg(long)]
        within: Option<String>,
        /// New keys instead of keeping the current ones.
        #[arg(long)]
        new_keys: bool,
        /// Print JSON: {"renewed": [{"name", "keptKey", "notAfter"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Bootstrap tokens in a state: new workers can join a running cluster after the first
    /// token expired.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a shell completion script for kubebake.
    #[command(after_help = "Examples:\n  kubebake completions bash > /etc/bash_completion.d/kubebake\n  \
                            kubebake completions zsh > \"${fpath[1]}/_kubebake\"")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write kubebake's man pages (kubebake.1 and one per command) into a directory.
    #[command(after_help = "Example:\n  kubebake man -o /usr/local/share/man/man1 && man kubebake-bake")]
    Man {
        /// The directory for the pages (created if missing).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Check a cluster spec and report every problem in it; writes nothing.
    #[command(after_help = "Example:\n  kubebake validate cluster.yaml")]
    Validate {
        /// The cluster spec to check.
        spec: PathBuf,
        /// Print JSON: {"valid", "problems": [{"path", "line", "column", "message"}], "warnings", ...}.
        #[arg(long)]
        json: bool,
    },
}

/// What `kubebake init` writes into the spec, flag by flag.
#[derive(Debug, clap::Args)]
pub struct InitSpec {
    /// The cluster's name (metadata.name).
    #[arg(long, default_value = "demo")]
    name: String,
    /// How many control planes (cp-1, cp-2, …).
    #[arg(long, default_value_t = 1)]
    control_planes: usize,
    /// How many workers (worker-1, …).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The first control plane's address; the others follow it, workers start 10
    /// addresses later.
    #[arg(long, default_value = "10.0.0.11")]
    first_address: std::net::IpAddr,
    /// The API endpoint (host[:port]) [default: the first control plane].
    #[arg(long)]
    endpoint: Option<String>,
    /// The nodes' OS profile: ubuntu-24.04, debian-12, flatcar, fedora-coreos.
    #[arg(long, default_value = "ubuntu-24.04")]
    os: String,
    /// Pod addresses.
    #[arg(long, default_value = "192.168.0.0/16")]
    pod_subnet: String,
    /// Service addresses.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_subnet: String,
    #[arg(
        long,
        default_value_t = kubebake::model::versions::DEFAULT_VERSION.to_string(),
        help = format!("Kubernetes version: any release of {}.", kubebake::model::versions::supported_list())
    )]
    kubernetes_version: String,
    /// The CNI: calico, or none to install your own.
    #[arg(long, default_value = "calico", value_parser = ["calico", "none"])]
    cni: String,
}

impl InitSpec {
    /// The flags as `kubebake::cmd::init` takes them.
    pub fn into_options(self) -> kubebake::cmd::init::Options {
        kubebake::cmd::init::Options {
            name: self.name,
            control_planes: self.control_planes,
            workers: self.workers,
            first_address: self.first_address,
            endpoint: self.endpoint,
            os: self.os,
            pod_subnet: self.pod_subnet,
            service_subnet: self.service_subnet,
            kubernetes_version: self.kubernetes_version,
            cni: self.cni,
        }
    }
}

/// `kubebake token`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Add a new bootstrap token to the state and write its bootstrap-token Secret, to put
    /// it into the running cluster: `kubebake token create STATE | kubectl apply -f -`.
    #[command(
        after_help = "Examples:\n  kubebake token create cluster.state | kubectl apply -f -\n                              kubebake token create cluster.state --ttl 2h -o token.yaml"
    )]
    Create(TokenNew),
    /// Like create, and make the new token the one baked into joining nodes' files from
    /// the next bake on (only their files change): apply the Secret, re-bake, and new
    /// workers join after the first token expired.
    ///
    /// With --pool NAME: a new token for that worker pool's user-data only (from the next
    /// bake on), valid 720h unless --ttl says otherwise. Rotate before the pool's token
    /// expires, apply the Secret, re-bake and give the pool its new user-data.
    #[command(after_help = "Examples:\n  kubebake token rotate cluster.state | kubectl apply -f - && \
                            kubebake bake cluster.yaml -o out\n  \
                            kubebake token rotate cluster.state --pool gpu | kubectl apply -f - && \
                            kubebake bake cluster.yaml -o out")]
    Rotate {
        #[command(flatten)]
        new: TokenNew,
        /// Rotate this worker pool's token (spec.workerPools[].name) instead of the one
        /// listed nodes carry; only the pool's files change at the next bake.
        #[arg(long, value_name = "NAME")]
        pool: Option<String>,
    },
    /// List the state's tokens: id, expiry, which one joining nodes carry; never a secret.
    #[command(after_help = "Example:\n  kubebake token list cluster.state --json")]
    List {
        /// The state directory (a bake made it; default beside the spec: <spec>.state).
        state: PathBuf,
        /// Print JSON: {"tokens": [{"id", "initial", "joins", "created", "expires", "expired",
        /// "pool" (a worker pool's token)}]}.
        #[arg(long)]
        json: bool,
    },
}

/// The flags of `token create` and `token rotate`.
#[derive(Debug, clap::Args)]
pub struct TokenNew {
    /// The state directory (a bake made it; default beside the spec: <spec>.state).
    pub state: PathBuf,
    /// How long the token is valid, as a Go duration (24h, 90m); 0: never expires
    /// [default: 24h; with --pool: 720h, a pool's default tokenTTL].
    #[arg(long)]
    pub ttl: Option<String>,
    /// Write the Secret to FILE (0600) instead of stdout. On a terminal, stdout is
    /// refused: the Secret holds the token.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `kubebake bake`'s flags.
#[derive(Debug, PartialEq, clap::Args)]
pub struct BakeArgs {
    /// The cluster spec (YAML, apiVersion kubebake.io/v1alpha1, kind Cluster).
    pub spec: PathBuf,
    /// Output directory; replaced whole on every bake.
    #[arg(short, long)]
    pub out: PathBuf,
    /// State directory holding the CAs, keys and token [default: <spec>.state beside
    /// the spec]. Keep it: later bakes reuse it to produce the same bytes.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print the join command with the real bootstrap token instead of a masked one.
    #[arg(long)]
    pub show_token: bool,
    /// A directory of templates overriding the built-in ones by file name
    /// (firstboot.sh.tera, kubebake-firstboot.service.tera, containerd-config.toml.tera, …).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Check every node's user-data against this platform's size limit and fail when
    /// one is over.
    #[arg(long, value_parser = ["aws", "azure", "gce", "openstack", "vsphere", "hetzner", "none"])]
    pub platform: Option<String>,
    /// With a --platform whose metadata service serves the user-data (aws, azure, gce,
    /// openstack, hetzner): bake the control planes' keys in clear anyway, instead of
    /// refusing (seal them with spec.secrets.encryptTo instead where you can).
    #[arg(long)]
    pub allow_clear_secrets: bool,
    /// For `packages: bundle`: the bundle the nodes' image carries (kubebake bundle). Its
    /// sha256 goes into every node's first boot, which runs nothing from any other; the state
    /// keeps it, so later bakes need --bundle only for a new bundle.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Also write each node's (not a worker pool's) NoCloud seed medium, OUT/<node>/seed.iso (iso: a CD image) or
    /// seed.img (vfat: a disk image), labelled cidata, holding its user-data, meta-data and
    /// network-config (cloud-init profiles only; see docs/seed-media.md).
    #[arg(long, value_parser = ["iso", "vfat"])]
    pub media: Option<String>,
    /// Print the report as JSON: {"state", "stateChanges", "out", "operatorKubeconfig",
    /// "nodes": [...], "pools": [...], "join": {...}, "warnings": [...]}.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bake_alone_parses_a_bake_as_the_full_parser_does_and_takes_nothing_else() {
        let argv = |s: &str| s.split_whitespace().map(std::ffi::OsString::from).collect::<Vec<_>>();
        for line in [
            "kubebake bake c.yaml -o out",
            "kubebake -q bake c.yaml --out=out --state s --show-token --json",
            "kubebake bake c.yaml -o out --platform aws --templates t --quiet",
        ] {
            let bake = |cli: Cli| match cli.command {
                Command::Bake(args) => (cli.global, args),
                other => panic!("{line}: {other:?}"),
            };
            let fast = bake(Cli::bake_alone(argv(line)).expect(line));
            assert_eq!(fast, bake(Cli::try_parse_from(argv(line)).unwrap()), "{line}");
        }
        for line in [
            "kubebake bake --help",
            "kubebake bake c.yaml",
            "kubebake bake c.yaml -o out --platform mars",
            "kubebake --version",
            "kubebake images c.yaml",
            "kubebake",
        ] {
            assert!(Cli::bake_alone(argv(line)).is_none(), "{line}");
        }
    }
}
