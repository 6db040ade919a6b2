// Package archtest holds no code: its test reads the repository's Go files and checks the rules of
// docs/ARCHITECTURE.md that a compiler does not: imports run one way, no file grows past 600 lines, and
// no package decides anything by comparing another package's English (a reason or an error's text).
package archtest
