//! What first boot expects of an air-gap bundle ([`crate::deliver::bundle`] makes them).

/// The text `manifest.json` holds (pretty JSON, as `write_archive` writes it) for its
/// Kubernetes version: first boot and the image's provisioner look for it, as a fixed
/// string, to refuse a bundle made for another version.
pub fn manifest_version_line(version: &str) -> String {
    format!("\"kubernetesVersion\": {}", serde_json::Value::from(version))
}
