// Package packaging holds mfabridge's package definition (nfpm.yaml, the
// maintainer scripts) and the test that installs the .deb into a clean
// Debian root.
package packaging
