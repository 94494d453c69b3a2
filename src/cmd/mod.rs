//! One module per subcommand: each takes its options and returns what it did.

pub mod bake;
pub mod check;
pub mod init;
pub mod inspect;
