// Package e2e holds mfabridge's end-to-end tests: the bridge and the
// emulated tenant run in the test process, and real RADIUS clients
// (FreeRADIUS's radclient, pam_radius_auth through pamtester) talk to it
// over UDP. Outside CI a test whose program is missing is skipped and says
// which Debian package has it; in CI (CI=true) it fails instead.
package e2e
