//! Symmetry reduction over server ids (stateright's `Representative`/`Rewrite` API). Server
//! ids play no role in the protocol beyond naming, so two states that differ only by a
//! permutation of ids behave the same, and the checker keeps one representative per class.
//!
//! The representative is canonical: every state of a class maps to the same one, so the
//! unique-state count does not depend on the order the checker meets states in (thread
//! count, scheduling). It is the least rewritten state (in `Ord`) over the permutations
//! that sort servers by an id-free summary of their state; only servers with equal
//! summaries are tried in every order, so usually one or two permutations are built. The
//! candidate set of a permuted state is the candidate set of the original composed with
//! that permutation, which is what makes the minimum the same for the whole class.
//! Only `spawn_dfs` honours it.

use crate::network::Network;
use crate::server::ServerState;
use crate::state::ClusterState;
use crate::types::{Index, Role, ServerId, Term, Value};
use stateright::{Representative, Rewrite, RewritePlan};

/// A permutation of server ids: server `j` is renamed `perm[j]`.
pub type Permutation = Vec<u8>;

/// The plan stateright's `Rewrite` implementations apply for `perm`.
pub fn plan(perm: &Permutation) -> RewritePlan<ServerId, Permutation> {
    RewritePlan::new(perm.clone(), |id, perm| ServerId(perm[id.index()]))
}

/// `state` with every server renamed by `perm`: servers move to their new slots and every
/// id inside the state (votes, `next_index`/`match_index` slots, message endpoints and the
/// `candidate`/`leader` fields) is rewritten.
pub fn permute(state: &ClusterState, perm: &Permutation) -> ClusterState {
    let plan = plan(perm);
    let mut servers = vec![ServerState::new(); state.servers.len()];
    for (j, s) in state.servers.iter().enumerate() {
        servers[usize::from(perm[j])] = s.rewrite(&plan);
    }
    ClusterState {
        servers,
        network: state.network.rewrite(&plan),
        history: state.history.clone(),
    }
}

/// What a server's state says without naming any server: equal for a server and its image
/// under any permutation.
#[allow(clippy::type_complexity)]
fn summary(
    s: &ServerState,
    me: usize,
) -> (
    Term,
    Role,
    &[crate::types::Entry],
    Index,
    Term,
    Index,
    &[Value],
    Index,
    Index,
    (bool, bool),
    usize,
    Vec<(Index, Index)>,
) {
    let mut slots: Vec<(Index, Index)> = s
        .next_index
        .iter()
        .copied()
        .zip(s.match_index.iter().copied())
        .collect();
    slots.sort_unstable();
    (
        s.current_term,
        s.role,
        &s.log,
        s.snapshot.last_included_index,
        s.snapshot.last_included_term,
        s.durable_index,
        &s.applied,
        s.commit_index,
        s.last_applied,
        (
            s.voted_for.is_some(),
            s.voted_for == Some(ServerId::from(me)),
        ),
        s.votes_granted.len(),
        slots,
    )
}

/// Every permutation that sorts the servers by `summary`, ties tried in every order.
fn candidates(state: &ClusterState) -> Vec<Permutation> {
    let summaries: Vec<_> = state
        .servers
        .iter()
        .enumerate()
        .map(|(j, s)| summary(s, j))
        .collect();
    let mut order: Vec<usize> = (0..state.servers.len()).collect();
    order.sort_by(|&a, &b| summaries[a].cmp(&summaries[b]));
    // Groups of servers with equal summaries, as runs of `order`.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &j in &order {
        match groups.last_mut() {
            Some(g) if summaries[g[0]] == summaries[j] => g.push(j),
            _ => groups.push(vec![j]),
        }
    }
    // Every way of ordering each group: the sorted positions are fixed per group.
    let mut orders: Vec<Vec<usize>> = vec![Vec::new()];
    for group in &groups {
        let mut next = Vec::new();
        for prefix in &orders {
            for arrangement in arrangements(group) {
                let mut o = prefix.clone();
                o.extend(arrangement);
                next.push(o);
            }
        }
        orders = next;
    }
    orders
        .into_iter()
        .map(|o| {
            // o[position] = old id; the permutation maps old id -> position.
            let mut perm = vec![0u8; o.len()];
            for (position, &old) in o.iter().enumerate() {
                perm[old] = position as u8;
            }
            perm
        })
        .collect()
}

/// All orderings of `items` (groups are small: at most the cluster size).
fn arrangements(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (k, &first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(k);
        for mut tail in arrangements(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

impl Representative for ClusterState {
    fn representative(&self) -> Self {
        candidates(self)
            .iter()
            .map(|perm| permute(self, perm))
            .min()
            .expect("at least one permutation")
    }
}

/// Every permutation of `n` server ids (for tests: `n!` of them).
pub fn all_permutations(n: usize) -> Vec<Permutation> {
    arrangements(&(0..n).collect::<Vec<_>>())
        .into_iter()
        .map(|p| p.into_iter().map(|x| x as u8).collect())
        .collect()
}

/// Renames the endpoints and ids of a network (used by `permute`; kept for tests).
pub fn permute_network(network: &Network, perm: &Permutation) -> Network {
    network.rewrite(&plan(perm))
}

#[cfg(test)]
mod tests;
