//! Symmetry reduction over server ids (stateright's `Representative`/`Rewrite` API). Server
//! ids play no role in the protocol beyond naming, so two states that differ only by a
//! permutation of ids behave the same. The representative sorts the servers by their state
//! and rewrites every id (votes, `next_index`/`match_index`, message endpoints) accordingly.
//! Only `spawn_dfs` honours it.

use crate::state::ClusterState;
use crate::types::ServerId;
use stateright::{Representative, Rewrite, RewritePlan};

impl Representative for ClusterState {
    fn representative(&self) -> Self {
        let plan = RewritePlan::<ServerId, _>::from_values_to_sort(&self.servers);
        ClusterState {
            servers: plan.reindex(&self.servers),
            network: self.network.rewrite(&plan),
            history: self.history.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Action, RaftModel};
    use stateright::Model;

    #[test]
    fn states_that_differ_by_a_permutation_of_ids_share_a_representative() {
        let model = RaftModel::new(Config {
            max_inflight: Some(8),
            ..Config::default()
        });
        let init = &model.init_states()[0];
        let a = model
            .next_state(init, Action::Timeout(ServerId(0)))
            .unwrap();
        let b = model
            .next_state(init, Action::Timeout(ServerId(2)))
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(a.representative(), b.representative());
        let c = model.next_state(&a, Action::Timeout(ServerId(1))).unwrap();
        assert_ne!(c.representative(), a.representative());
    }
}
