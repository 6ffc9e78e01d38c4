module github.com/mfabridge/mfabridge

go 1.26.8

require github.com/sirupsen/logrus v1.10.2

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	golang.org/x/sys v0.13.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	layeh.com/radius v0.0.0-20231213012653-1006025d24f8 // indirect
)
