package replycache_test

import (
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/bridge/replycache/replycachetest"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

func TestMemoryConformance(t *testing.T) {
	replycachetest.RunConformance(t, func(t *testing.T, ttl time.Duration) replycache.Cache {
		return replycache.NewMemory(ttl, nil)
	})
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	replycachetest.RunConformance(t, func(t *testing.T, ttl time.Duration) replycache.Cache {
		return replycache.NewRedis(srv.Client(), redistest.Prefix(), ttl, 5*time.Second, nil)
	})
}
