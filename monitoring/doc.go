// Package monitoring holds mfabridge's Prometheus alert rules and Grafana
// dashboard (mfabridge-alerts.yml, mfabridge-dashboard.json), shipped in
// the package under /usr/share/doc/mfabridge/monitoring, and the test that
// checks them against the metrics mfabridge exports.
package monitoring
