// Package interop holds the long interoperability tests against the lab's PBX profile (Kamailio enforcing
// session timers and hiding its topology) and real far ends. They live in a package of their own so that
// `go test ./...` runs them beside the other packages instead of after the phone's own tests; the package
// has no code besides this comment.
package interop
