//! The service above each simulated server: a state machine whose state is the list of
//! commands it applied, in index order. Commands are the proposal numbers 1, 2, 3, … (so
//! every entry is distinct and State Machine Safety can tell entries apart, as in the
//! model), encoded as 4 little-endian bytes. A snapshot is the whole applied list, which is
//! exactly the model's `Snapshot::data`.

use raft_impl::core::Apply;

/// Encodes a command (a proposal number) as the bytes the core replicates.
pub fn encode_command(value: u32) -> Vec<u8> {
    value.to_le_bytes().to_vec()
}

/// Decodes a command; `None` for bytes the simulator never proposed. A command may carry
/// zero padding after its 4 bytes (`Cluster::propose_padded`, the benchmarks' payloads).
pub fn decode_command(bytes: &[u8]) -> Option<u32> {
    let (value, padding) = bytes.split_at_checked(4)?;
    if padding.iter().any(|&b| b != 0) {
        return None;
    }
    Some(u32::from_le_bytes(value.try_into().ok()?))
}

/// Encodes a service snapshot: the applied commands, in order.
pub fn encode_snapshot(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Decodes a service snapshot; `None` if the length is not a multiple of 4.
pub fn decode_snapshot(bytes: &[u8]) -> Option<Vec<u32>> {
    let chunks = bytes.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(chunks.filter_map(decode_command).collect())
}

/// One server's service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// `applied[k]` is the command at index `k + 1`.
    pub applied: Vec<u32>,
}

impl Service {
    /// A service restored from a snapshot (after a restart, §7).
    pub fn restore(snapshot: &[u8]) -> Result<Service, String> {
        let applied = decode_snapshot(snapshot).ok_or("undecodable snapshot")?;
        Ok(Service { applied })
    }

    /// Applies one output of the core. Entries must come in index order with no gap or
    /// repeat; a snapshot must not move the service backwards.
    pub fn apply(&mut self, apply: &Apply) -> Result<(), String> {
        match apply {
            Apply::Entry { index, command, .. } => {
                let expected = self.applied.len() as u64 + 1;
                if *index != expected {
                    return Err(format!("applied index {index}, expected {expected}"));
                }
                let value = decode_command(command).ok_or("undecodable command")?;
                self.applied.push(value);
            }
            Apply::Snapshot { index, data, .. } => {
                let values = decode_snapshot(data).ok_or("undecodable snapshot")?;
                if values.len() as u64 != *index {
                    return Err(format!("snapshot at {index} holds {} values", values.len()));
                }
                if *index < self.applied.len() as u64 {
                    return Err(format!(
                        "snapshot at {index} moves the service back from {}",
                        self.applied.len()
                    ));
                }
                self.applied = values;
            }
        }
        Ok(())
    }
}
