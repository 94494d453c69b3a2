//! Warnings a bake adds to the spec's own.

use std::path::Path;

use time::OffsetDateTime;

use crate::error::Problem;
use crate::model::Cluster;
use crate::state;

/// One warning per pool, at every bake: a pool's user-data lives as long as the pool, but
/// the token in it does not, and when it lapses the next scale-up strands its machines.
/// Each says when the token expires and how to rotate it.
pub(super) fn pool_token_warnings(
    cluster: &Cluster,
    state: &state::State,
    state_dir: &Path,
    now: OffsetDateTime,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, pool) in cluster.worker_pools.iter().enumerate() {
        let tokens = &state.pool_tokens[&pool.name];
        let id = tokens.joins.id();
        let rotate = format!(
            "kubebake token rotate {} --pool {} | kubectl apply -f -, bake again and give the pool its new user-data \
             (launch template, MachineSet)",
            state_dir.display(),
            pool.name
        );
        let message = if tokens.joins == tokens.initial {
            if pool.token_ttl.is_zero() {
                format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which never expires (tokenTTL 0): \
                     whoever reads the pool's user-data can join machines until the token is deleted \
                     (kubectl -n kube-system delete secret bootstrap-token-{id}); to replace it: {rotate}",
                    pool.name
                )
            } else {
                let ttl = crate::fmt::duration::format_go_duration(pool.token_ttl);
                format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which kubeadm init creates with a \
                     {ttl} TTL: it expires {ttl} after the first control plane's init ({} for a cluster started \
                     now), and machines the pool launches after that cannot join. Before then, and at once if the \
                     cluster already ran before this pool was added (its init made no token for it): {rotate}",
                    pool.name,
                    crate::fmt::time::rfc3339(now + pool.token_ttl)
                )
            }
        } else {
            match (&tokens.joins_expires, tokens.joins_expires_unix) {
                (Some(at), Some(unix)) if unix <= now.unix_timestamp() => format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which expired on {at}: machines \
                     the pool launches now cannot join; {rotate}",
                    pool.name
                ),
                (Some(at), _) => format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which expires on {at}; machines \
                     the pool launches after that cannot join. Before then: {rotate}",
                    pool.name
                ),
                _ => format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which never expires: whoever reads \
                     the pool's user-data can join machines until the token is deleted \
                     (kubectl -n kube-system delete secret bootstrap-token-{id}); to replace it: {rotate}",
                    pool.name
                ),
            }
        };
        out.push(Problem { path: format!("spec.workerPools[{i}]"), line: None, column: None, message, file: None });
    }
    out
}
