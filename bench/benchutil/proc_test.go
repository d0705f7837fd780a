package benchutil

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestReadProcSelf(t *testing.T) {
	// Burn some CPU so that the reading cannot be zero.
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.CPUSeconds <= 0 || p.RSS <= 0 || p.HWM < p.RSS || p.Threads < 1 {
		t.Errorf("implausible reading %+v (loop ran %d times)", p, x)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1) succeeded")
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`# TYPE a_total counter
a_total{k="x",z="1"} 2
a_total{k="y",z="1"} 3
# TYPE lag histogram
lag_bucket{le="0.1"} 4
lag_bucket{le="+Inf"} 5
lag_sum 0.7
lag_count 5
`))
	}))
	defer srv.Close()
	m, err := Scrape(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Sum("a_total"); !ok || v != 5 {
		t.Errorf("Sum(a_total) = %v %v, want 5", v, ok)
	}
	if v, _ := m.Sum("a_total", "k", "y"); v != 3 {
		t.Errorf("Sum(a_total, k=y) = %v, want 3", v)
	}
	if _, ok := m.Sum("missing"); ok {
		t.Error("Sum(missing) reported found")
	}
	b, n, sum, ok := m.Histogram("lag")
	if !ok || n != 5 || sum != 0.7 || b[0.1] != 4 {
		t.Errorf("Histogram(lag) = %v %d %v %v", b, n, sum, ok)
	}
}
