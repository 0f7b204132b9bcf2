// Package scenario reads, validates, writes and swarm-draws the simulator's
// scenario files (scenarios/*.yaml; the schema is documented in
// scenarios/README.md). It is pure data: it knows nothing of the engine in
// sim/, which turns a Scenario into a run.
//
// Invariants of a *Scenario returned by Parse:
//   - every default is filled in (latencies, workload timeout and stop,
//     check windows, random fault durations), so consumers never re-derive
//     them;
//   - every node name is within n1..nCount, "leader" appears only when there
//     is a registry, and every fault window lies within [0, Duration];
//   - no two fault windows that hold the same exclusive state overlap (one
//     network cut, one network override, one crash or pause per node, one
//     clock skew per node);
//   - Parse(Marshal(s)) equals s apart from Source and the Line fields, and
//     Marshal is stable (marshalling the re-parsed value gives the same
//     bytes). Marshal re-parses its own output, so it never returns a file
//     Parse would refuse.
//
// Errors name the file, the line and the field path ("faults[2].at") of each
// problem; all problems of a file are reported at once, bounded by
// ErrorsMax. Every list and number a file controls is bounded by a named
// limit (NodeCountMax, FaultsMax, FileBytesMax, ...).
//
// Rejected alternatives. Decoding into tagged structs with yaml.v3's
// KnownFields(true) was rejected: it stops at the first unknown key, its
// messages carry a line but not the field path, and it cannot tell an
// omitted key from a zero one, which the defaults need. The package instead
// walks the yaml.Node tree by hand, which costs some code but gives every
// message a line and a path. Sorting the fault timeline on load was
// rejected: the file's order is the story its author wrote, and error
// messages refer to faults by their index in the file. Expanding YAML
// aliases was rejected: a small file could expand exponentially, and a
// scenario should read the same wherever a value appears.
package scenario
