package session

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
)

type peer struct{}
type metrics struct{}

func newManager(cfg config.BGP, src *rbgp.Source, log *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	return &Manager{cfg: cfg, src: src, log: log, ready: make(chan struct{})}, nil
}
func (m *Manager) run(ctx context.Context) error { return errors.New("session: not implemented yet") }
func (m *Manager) reconfigure(cfg config.BGP) error {
	return errors.New("session: not implemented yet")
}
func (m *Manager) status() []PeerStatus { return nil }
