//! What the cluster's trust rests on: its certificates (`spec.pki`), the bootstrap token
//! nodes join with (`spec.join`), and the age recipient that seals the nodes' files
//! (`spec.secrets`).

use std::net::IpAddr;
use std::time::Duration;

use super::duration_field;
use crate::model::recipient::{DEFAULT_IDENTITY, Recipient};
use crate::model::{JoinSettings, KeyAlgorithm, PkiSettings, San, Sealing};
use crate::spec::checker::Checker;
use crate::spec::grammar::{self, dns1123_subdomain};
use crate::spec::{Join, Pki, SecretsSpec};

const DEFAULT_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
const DEFAULT_CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// kubeadm's key algorithm, validity periods (no certificate outliving its CA) and the
/// API server's extra names.
pub(super) fn check_pki(c: &mut Checker, pki: &Pki) -> Option<PkiSettings> {
    let algorithm = match pki.encryption_algorithm.as_deref() {
        None => Some(KeyAlgorithm::EcdsaP256),
        Some(name) => {
            let alg = KeyAlgorithm::from_name(name);
            if alg.is_none() {
                let names: Vec<_> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
                c.error(
                    "spec.pki.encryptionAlgorithm",
                    format!("{name:?} is not one of kubeadm's algorithms ({})", names.join(", ")),
                );
            }
            alg
        }
    };
    let cert_validity = duration_field(
        c,
        "spec.pki.certificateValidityPeriod",
        pki.certificate_validity_period.as_deref(),
        DEFAULT_CERT_VALIDITY,
        false,
    );
    let ca_validity = duration_field(
        c,
        "spec.pki.caCertificateValidityPeriod",
        pki.ca_certificate_validity_period.as_deref(),
        DEFAULT_CA_VALIDITY,
        false,
    );
    if let (Some(cert), Some(ca)) = (cert_validity, ca_validity)
        && cert > ca
    {
        c.error(
            "spec.pki.certificateValidityPeriod",
            "is longer than caCertificateValidityPeriod: certificates would outlive their CA",
        );
    }
    let api_server_cert_sans = check_sans(c, &pki.api_server_cert_sans);
    Some(PkiSettings {
        algorithm: algorithm?,
        cert_validity: cert_validity?,
        ca_validity: ca_validity?,
        api_server_cert_sans,
        external_ca: pki.external_ca,
    })
}

/// Each extra name an IP address or a DNS name (a wildcard allowed).
fn check_sans(c: &mut Checker, names: &[String]) -> Vec<San> {
    let mut sans = Vec::new();
    for (i, s) in names.iter().enumerate() {
        let path = format!("spec.pki.apiServerCertSANs[{i}]");
        match s.parse::<IpAddr>() {
            Ok(ip) => sans.push(San::Ip(ip)),
            Err(_) => match dns_san(s) {
                Ok(()) => sans.push(San::Dns(s.clone())),
                Err(m) => c.error(&path, m),
            },
        }
    }
    sans
}

/// A certificate DNS name: a subdomain, optionally with a leading wildcard label.
fn dns_san(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    dns1123_subdomain(rest).map_err(|_| format!("{s:?} is neither an IP address nor a DNS name"))
}

/// The join token's lifetime (zero: never expires) and how long a node keeps trying.
pub(super) fn check_join(c: &mut Checker, join: &Join) -> Option<JoinSettings> {
    let token_ttl = duration_field(c, "spec.join.tokenTTL", join.token_ttl.as_deref(), DEFAULT_TOKEN_TTL, true);
    let timeout = duration_field(c, "spec.join.timeout", join.timeout.as_deref(), DEFAULT_JOIN_TIMEOUT, false);
    Some(JoinSettings { token_ttl: token_ttl?, timeout: timeout? })
}

/// An age recipient, and where on the node the identity that opens its seals lives.
pub(super) fn check_secrets(c: &mut Checker, s: &SecretsSpec) -> Option<Sealing> {
    let recipient = c.check("spec.secrets.encryptTo", Recipient::parse(s.encrypt_to.trim()));
    let identity = s.identity.clone().unwrap_or_else(|| DEFAULT_IDENTITY.into());
    if !c.rule("spec.secrets.identity", grammar::node_path(&identity)) {
        return None;
    }
    recipient.map(|recipient| Sealing { recipient, identity })
}
