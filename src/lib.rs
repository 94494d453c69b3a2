//! kubebake: bakes a kubeadm cluster into per-node files, offline and reproducibly.
//!
//! The pipeline: [`spec`] (the user's file) → [`model::Cluster`] → [`state`] (PKI and
//! token, created once and reused) → [`plan`] (the files each node gets) → [`output`].

pub mod bake;
pub mod bundle;
pub mod check;
pub mod cni;
pub mod error;
pub mod firstboot;
pub mod images;
pub mod init;
pub mod inspect;
pub mod invocation;
pub mod kubeadm_config;
pub mod kubeconfig;
pub mod manifests;
pub mod model;
pub mod output;
pub mod packer;
pub mod pki;
pub mod plan;
pub mod profile;
pub mod render;
pub mod seal;
pub mod spec;
pub mod state;
pub mod templates;
pub mod token;
pub mod tokens;
pub mod versions;
pub mod yaml;

pub use error::{Error, Result};
