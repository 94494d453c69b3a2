//! `kubebake inspect STATE`: what a state holds, read-only: every certificate (subject,
//! SANs, issuer, validity, key algorithm), the tokens (never a secret) and the CA pin.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::cmd::report::{self, Report, Text};
use crate::error::{Error, Result};
use crate::{fmt::time::rfc3339, state::join_tokens::TokenInfo};

/// One certificate of the state, described.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// The state path without `.crt`: `ca`, `etcd/ca`, `nodes/cp-1/pki/apiserver`, …
    pub name: String,
    /// The subject's distinguished name, as OpenSSL writes it.
    pub subject: String,
    /// `DNS:…` and `IP:…` subject alternative names.
    pub sans: Vec<String>,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Whether it is a CA (basic constraints).
    pub is_ca: bool,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// Whole days until notAfter (negative once expired).
    pub days_left: i64,
    /// The key algorithm in the spec's names (ECDSA-P256, RSA-2048, …).
    pub algorithm: String,
}

/// What a state holds (`kubebake inspect`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// The cluster's name, as the state recorded it.
    pub cluster: String,
    /// kubeadm's `--discovery-token-ca-cert-hash` for this cluster CA.
    pub ca_cert_hash: String,
    /// Every certificate, by name.
    pub certificates: Vec<CertInfo>,
    /// The tokens, never a secret.
    pub tokens: Vec<TokenInfo>,
}

/// One certificate, described; `name` says where it came from, for errors too.
pub fn describe(name: &str, pem_text: &str, now: OffsetDateTime) -> std::result::Result<CertInfo, String> {
    let block = pem::parse(pem_text).map_err(|_| format!("{name}: not a PEM certificate"))?;
    let (_, cert) =
        X509Certificate::from_der(block.contents()).map_err(|e| format!("{name}: not an X.509 certificate ({e})"))?;
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let mut sans = Vec::new();
    let mut is_ca = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                        GeneralName::IPAddress(ip) => sans.push(format!("IP:{}", ip_text(ip))),
                        other => sans.push(format!("{other:?}")),
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            _ => {}
        }
    }
    Ok(CertInfo {
        name: name.to_string(),
        subject: cert.subject().to_string(),
        sans,
        issuer: cert.issuer().to_string(),
        is_ca,
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left: (not_after - now).whole_days(),
        algorithm: algorithm(&cert),
    })
}

fn ip_text(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(raw).expect("4 bytes")).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(raw).expect("16 bytes")).to_string(),
        _ => format!("{raw:02x?}"),
    }
}

/// The key algorithm in the spec's own names (`pki.encryptionAlgorithm`).
fn algorithm(cert: &X509Certificate) -> String {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA-{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA-P256".into(),
                Some("1.3.132.0.34") => "ECDSA-P384".into(),
                Some(other) => format!("ECDSA ({other})"),
                None => "ECDSA".into(),
            }
        }
        Ok(PublicKey::Unknown(_)) | Ok(_) | Err(_) => spki.algorithm.algorithm.to_id_string(),
    }
}

/// Reads the state at `dir`, changing nothing; `now` decides days left and what expired.
pub fn inspect(dir: &Path, now: OffsetDateTime) -> Result<Inspection> {
    let files = crate::state::read_initialized(dir)?;
    let record: serde_json::Value = serde_json::from_slice(&files[crate::state::RECORD_FILE])
        .map_err(|e| Error::state(dir, format!("{} is unreadable ({e})", crate::state::RECORD_FILE)))?;
    let mut certificates = Vec::new();
    let by_name: BTreeMap<&str, &Vec<u8>> =
        files.iter().filter_map(|(rel, b)| rel.strip_suffix(".crt").map(|n| (n, b))).collect();
    for (name, bytes) in by_name {
        let info = describe(name, &String::from_utf8_lossy(bytes), now).map_err(|m| Error::state(dir, m))?;
        certificates.push(info);
    }
    let ca = files.get("ca.crt").ok_or_else(|| Error::state(dir, "ca.crt is missing"))?;
    let ca_der = pem::parse(ca).map_err(|_| Error::state(dir, "ca.crt is not PEM"))?;
    let ca_cert_hash = crate::pki::ca_cert_hash(ca_der.contents()).map_err(|m| Error::state(dir, m))?;
    Ok(Inspection {
        cluster: record["cluster"].as_str().unwrap_or_default().to_string(),
        ca_cert_hash,
        certificates,
        tokens: crate::state::join_tokens::list(dir, now)?,
    })
}

impl Report for Inspection {
    fn text(&self, out: &mut Text) {
        out.data(format_args!("cluster  {}", self.cluster));
        out.data(format_args!("CA pin   {}", self.ca_cert_hash));
        let w = self.certificates.iter().map(|c| c.name.len()).max().unwrap_or(4).max(11);
        out.data(format_args!(
            "\n{:<w$}  {:<10}  {:>5}  {:<10}  {:<24}  subject [SANs]",
            "certificate", "not after", "days", "algorithm", "issuer"
        ));
        for c in &self.certificates {
            let issuer = c.issuer.strip_prefix("CN=").unwrap_or(&c.issuer);
            let sans = if c.sans.is_empty() { String::new() } else { format!("  [{}]", c.sans.join(", ")) };
            out.data(format_args!(
                "{:<w$}  {:<10}  {:>5}  {:<10}  {:<24}  {}{sans}",
                c.name,
                &c.not_after[..10],
                c.days_left,
                c.algorithm,
                issuer,
                c.subject
            ));
        }
        out.data(format_args!("\n{:<8}  {:<22}  {:<22}  use", "token", "created", "expires"));
        for t in &self.tokens {
            out.data(crate::cmd::token::row(t));
        }
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        report::json(self)
    }
}
