"""Writes model/mutants/NN-name.diff, one planted source bug ("mutant") each, from the
list below: (name, file, rule of docs/protocol.md, what it breaks, exact old text, new
text). The old text must occur exactly once. Rerun after a change to the model's rule
code moves a mutant's context; scripts/model-mutants.sh applies and checks the diffs.
See docs/model.md, "Planted bugs: source mutants"."""
import difflib, os, sys
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
M = []
def m(name, file, rule, what, old, new):
    M.append((name, file, rule, what, old, new))

E, R, C, S, RS, RC, L = ("model/src/" + f for f in
    ["election.rs", "replication.rs", "commit.rs", "snapshot.rs", "restart.rs", "receive.rs", "log.rs"])

m("timeout-keeps-term", E, "E1", "Timeout does not increment current_term (the self-vote lands in the old term)",
  "    s.current_term += 1;\n    // Rule E1", "    // Rule E1")
m("timeout-keeps-old-votes", E, "E1", "Timeout does not clear the votes of an earlier candidacy",
  "    s.become_follower();\n    s.role = Role::Candidate;", "    s.role = Role::Candidate;")
m("vote-not-recorded", E, "E2b", "a granted vote is not recorded in voted_for",
  "    if vote_granted {\n        s.voted_for = Some(candidate);\n    }\n", "")
m("request-vote-claims-current-term", E, "E2c", "RequestVote carries current_term as last_log_term",
  "        last_log_term: s.last_log_term(),\n    }", "        last_log_term: s.current_term,\n    }")
m("up-to-date-strict-index", L, "E2c-ii", "up-to-date needs a strictly longer log for equal last terms (`>=` -> `>`)",
  "last_log_index >= self.last_log_index())", "last_log_index > self.last_log_index())")
m("up-to-date-index-off-by-one", L, "E2c-ii", "up-to-date accepts a log one entry shorter for equal last terms",
  "last_log_index >= self.last_log_index())", "last_log_index + 1 >= self.last_log_index())")
m("up-to-date-term-ge", L, "E2c-i", "up-to-date: an equal last term wins regardless of length (`>` -> `>=`)",
  "        last_log_term > self.last_log_term()\n", "        last_log_term >= self.last_log_term()\n")
m("last-log-term-forgets-snapshot", L, "E2c / §7", "last_log_term of an empty log is 0, not the snapshot's last term",
  ".map_or(self.snapshot.last_included_term, |e| e.term)", ".map_or(0, |e| e.term)")
m("leader-inits-match-to-last", E, "E5", "BecomeLeader initialises match_index[j] to its own last log index, not 0",
  "    s.match_index = vec![0; servers];", "    s.match_index = vec![s.last_log_index(); servers];")
m("client-request-last-log-term", R, "ClientRequest", "a leader appends entries with its last log term, not current_term",
  "        term: s.current_term,\n        value,", "        term: s.last_log_term().max(1),\n        value,")
m("append-prev-term-is-current-term", R, "AppendEntries send", "AppendEntries carries the leader's current_term as prev_log_term",
  "        prev_log_term: s.term_at(prev_log_index).unwrap_or(0),", "        prev_log_term: s.current_term,")
m("install-snapshot-boundary", R, "AppendEntries send / §7", "the leader sends InstallSnapshot only for next_index < snapshot index (`<=` -> `<`)",
  "    if next <= s.snapshot.last_included_index {", "    if next < s.snapshot.last_included_index {")
m("leader-commit-is-last-log", R, "AE5 / AppendEntries send", "AppendEntries carries the leader's last log index as leader_commit",
  "        leader_commit: s.commit_index,\n    }", "        leader_commit: s.last_log_index(),\n    }")
m("snapshot-skip-off-by-one", R, "AE2s", "the snapshot skip drops one entry too few (the entry at the snapshot index is appended after it)",
  "            entries = &entries[covered..];", "            entries = &entries[covered - 1..];")
m("log-length-check-off-by-one", R, "AE2a", "AE2a rejects only prev_log_index > last_log_index + 1",
  "    if prev > s.last_log_index() && bug", "    if prev > s.last_log_index() + 1 && bug")
m("prev-term-check-lt", R, "AE2b", "AE2b rejects only when the follower's term at prev is lower than prev_log_term (`!=` -> `<`)",
  "Some(t) if t != prev_term && bug", "Some(t) if t < prev_term && bug")
m("hint-past-end", R, "AE7", "the log-too-short hint is last_log_index + 2 (one past the right index)",
  "        return reject(s.last_log_index() + 1, None);", "        return reject(s.last_log_index() + 2, None);")
m("never-truncate-on-conflict", R, "AE3b", "a conflicting entry is kept as if it matched (the term comparison is dropped)",
  "            Some(term) if term == entry.term => continue,", "            Some(_) => continue,")
m("truncate-after-conflict", R, "AE3b", "truncation starts one past the first conflict (the conflicting entry is kept)",
  "                s.truncate_from(index);\n", "                s.truncate_from(index + 1);\n")
m("append-skips-first-new", R, "AE4", "the first new entry of a request is not appended",
  "            None => {\n                s.log.extend_from_slice(&entries[k..]);", "            None => {\n                s.log.extend_from_slice(&entries[k + 1..]);")
m("learn-commit-from-own-log", R, "AE5b", "a follower caps leader_commit at its own last log index instead of the request's last new entry",
  "    let learned = leader_commit.min(last_new);", "    let learned = leader_commit.min(s.last_log_index());")
m("reply-match-off-by-one", R, "AE6", "a success reply reports prev_log_index + len(entries) + 1",
  "    } else {\n        last_new\n    };", "    } else {\n        last_new + 1\n    };")
m("match-index-may-decrease", R, "L1", "a success reply sets match_index[j] even when it lowers it",
  "        s.match_index[j] = s.match_index[j].max(match_index);", "        s.match_index[j] = match_index;")
m("leader-counts-one-past-durable", C, "D1", "the leader counts itself for durable_index + 1",
  "    index <= s.durable_index || bug", "    index <= s.durable_index + 1 || bug")
m("match-count-off-by-one", C, "L3a", "a follower counts for N when match_index[j] >= N - 1",
  ".filter(|&(j, &m)| j != me.index() && m >= index)", ".filter(|&(j, &m)| j != me.index() && m + 1 >= index)")
m("commit-checks-last-entry-term", C, "L3b", "the current-term check reads the term of the leader's last entry, not of N",
  "        } else {\n            n\n        };\n        let own_term", "        } else {\n            s.last_log_index()\n        };\n        let own_term")
m("apply-one-past-commit", C, "L4", "entries are applied while last_applied <= commit_index (one past it)",
  "    while s.last_applied < limit {", "    while s.last_applied <= limit {")
m("snapshot-limit-commit-index", S, "S1", "a snapshot is allowed up to commit_index instead of last_applied",
  "    } else {\n        s.last_applied\n    };\n    if index", "    } else {\n        s.commit_index\n    };\n    if index")
m("snapshot-keeps-last-entry", S, "S1", "taking a snapshot keeps the entry at the snapshot index in the log",
  "    s.log = s.entries_from(index + 1);", "    s.log = s.entries_from(index);")
m("snapshot-term-is-current-term", S, "S1", "a snapshot records current_term as its last included term",
  "        last_included_term: term,\n        data,", "        last_included_term: s.current_term,\n        data,")
m("install-compares-snapshot-index", S, "IS5", "InstallSnapshot is ignored only if not newer than the follower's own snapshot (not its commit index)",
  "    let older = last_included_index <= s.commit_index;", "    let older = last_included_index <= s.snapshot.last_included_index;")
m("install-keeps-suffix-off-by-one", S, "IS6", "a kept log suffix starts at the snapshot's last index (one entry too many)",
  "        s.entries_from(last_included_index + 1)\n    } else {\n        Vec::new()", "        s.entries_from(last_included_index)\n    } else {\n        Vec::new()")
m("install-discard-keeps-durable", S, "IS7 / D", "discarding the log on InstallSnapshot does not lower durable_index",
  "    } else {\n        last_included_index\n    };\n    s.snapshot", "    } else {\n        s.durable_index.max(last_included_index)\n    };\n    s.snapshot")
m("snapshot-reply-match-off-by-one", S, "IS9", "an InstallSnapshotReply raises match_index to the snapshot index + 1",
  "    s.match_index[j] = s.match_index[j].max(proved);", "    s.match_index[j] = s.match_index[j].max(proved + 1);")
m("restart-loses-last-durable", RS, "P3 / D", "a restart keeps the log only up to durable_index - 1",
  "    s.truncate_from(s.durable_index + 1);", "    s.truncate_from(s.durable_index);")
m("restart-keeps-role", RS, "P (volatile)", "a restart keeps the role and the leader's next/match (volatile state survives)",
  "pub fn restart(s: &mut ServerState, bug: Option<Bug>) {\n    s.become_follower();\n", "pub fn restart(s: &mut ServerState, bug: Option<Bug>) {\n")
m("truncate-keeps-durable", L, "AE3b / D", "a truncation does not lower durable_index",
  "        self.durable_index = self.durable_index.min(self.last_log_index());\n", "")
m("entries-from-off-by-one", L, "AppendEntries send", "entries_from(i) starts one entry late",
  "let start = usize::from(from.saturating_sub(base + 1));", "let start = usize::from(from.saturating_sub(base));")
m("same-term-steps-down", RC, "T1", "a message of the receiver's own term also makes it a follower (`<=` -> `<`)",
  "    if term <= s.current_term {\n        return;", "    if term < s.current_term {\n        return;")
m("accept-one-term-stale-requests", RC, "T2", "requests one term older than current_term are handled, not rejected",
  "    if msg.term() < s.current_term && !accept_stale {", "    if msg.term() + 1 < s.current_term && !accept_stale {")

os.chdir(ROOT)
for f in os.listdir("model/mutants"):
    if f.endswith(".diff"): os.remove("model/mutants/" + f)
for k, (name, file, rule, what, old, new) in enumerate(M, 1):
    src = open(file).read()
    n = src.count(old)
    if n != 1: sys.exit(f"{name}: old text occurs {n} times in {file}")
    out = src.replace(old, new)
    d = difflib.unified_diff(src.splitlines(True), out.splitlines(True), "a/" + file, "b/" + file, n=3)
    with open(f"model/mutants/{k:02d}-{name}.diff", "w") as fh:
        fh.write(f"rule: {rule}\nwhat: {what}\n")
        fh.writelines(d)
print(len(M), "mutants")
