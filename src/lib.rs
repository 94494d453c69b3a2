//! kubebake: bakes a kubeadm cluster into per-node files, offline and reproducibly.
//!
//! The pipeline: [`spec`] (the user's file) → [`model::Cluster`] → [`state`] (PKI and
//! token, created once and reused) → [`plan`] (the files each node gets) → [`output`].

pub mod bake;
pub mod error;
pub mod kubeconfig;
pub mod model;
pub mod output;
pub mod pki;
pub mod plan;
pub mod spec;
pub mod state;
pub mod token;

pub use error::{Error, Result};
