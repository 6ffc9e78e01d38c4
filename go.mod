module github.com/mfabridge/mfabridge

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/term v0.47.0
	golang.org/x/time v0.16.0
	layeh.com/radius v0.0.0-20231213012653-1006025d24f8
)

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/patrickmn/go-cache v2.1.0+incompatible
	github.com/pion/dtls/v3 v3.1.16
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/rueidis v1.0.80
	golang.org/x/image v0.47.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/transport/v5 v5.0.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	golang.org/x/crypto v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
