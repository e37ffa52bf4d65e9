package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the per-method call counters and latencies exported at
// /metrics, and what Listen streams cost: how many changes listeners read
// from the store and how many events were encoded for them, against how
// many they were sent.
type metrics struct {
	calls         *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	listenEncoded prometheus.Counter
	listenSent    prometheus.Counter
}

// newMetrics registers the metrics with reg; listenReads, if not nil,
// counts the changes listeners read from the store
// (db.Manager.ListenReads).
func newMetrics(reg prometheus.Registerer, listenReads func() uint64) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_grpc_calls_total",
			Help: "gRPC calls handled, by full method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hub_grpc_call_seconds",
			Help:    "gRPC call duration, by full method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"method"}),
		listenEncoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_listen_events_encoded_total",
			Help: "Listen events encoded for the wire; the listeners of a DB share the encoding of each change they see as written.",
		}),
		listenSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_listen_events_sent_total",
			Help: "Listen events sent, to every listener.",
		}),
	}
	cs := []prometheus.Collector{m.calls, m.latency, m.listenEncoded, m.listenSent}
	if listenReads != nil {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "hub_listen_changes_read_total",
			Help: "Changes listeners read from the store; the listeners of a DB share what they read while it is cached.",
		}, func() float64 { return float64(listenReads()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(method, code string, d time.Duration) {
	m.calls.WithLabelValues(method, code).Inc()
	m.latency.WithLabelValues(method).Observe(d.Seconds())
}
