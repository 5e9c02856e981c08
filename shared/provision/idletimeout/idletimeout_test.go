package idletimeout

import (
	"math"
	"testing"
	"time"
)

var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// series is demand d[i] at start + i*step.
func series(step time.Duration, d ...float64) []Sample {
	out := make([]Sample, len(d))
	for i, v := range d {
		out[i] = Sample{At: start.Add(time.Duration(i) * step), Demand: v}
	}
	return out
}

// periodic is n periods of: demand k for busy, then 0 for quiet, sampled every 10 s.
func periodic(n int, k float64, busy, quiet time.Duration) []Sample {
	var d []float64
	for range n {
		for range int(busy / (10 * time.Second)) {
			d = append(d, k)
		}
		for range int(quiet / (10 * time.Second)) {
			d = append(d, 0)
		}
	}
	return series(10*time.Second, d...)
}

func TestCost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		samples  []Sample
		t        time.Duration
		relaunch time.Duration
		want     float64
	}{
		// 2 tasks for a minute, none for a minute, 2 for a minute: sampled each
		// minute, a sample's demand ending at the next.
		{"short timeout: the idle capacity leaves, and is launched again", series(60*time.Second, 2, 0, 2, 0), 30 * time.Second, 100 * time.Second,
			2*100 + 2*60 + 2*60 + 2*100 + 2*60}, // held through the quiet minute's sample, gone 60 s after
		{"long timeout: kept through the gap, launched once", series(60*time.Second, 2, 0, 2, 0), 5 * time.Minute, 100 * time.Second,
			2*100 + 2*60 + 2*60 + 2*60},
		{"a rise above what is held launches the difference", series(60*time.Second, 1, 3), time.Minute, 10 * time.Second, 1*10 + 1*60 + 2*10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cost(tc.samples, tc.t, tc.relaunch); math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("Cost = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name     string
		samples  []Sample
		relaunch time.Duration
		want     time.Duration
	}{
		{"nothing known: keep workers as long as allowed", nil, 220 * s, 30 * time.Minute},
		{"gaps of 2 minutes, a relaunch dearer: wait them out", periodic(20, 10, 5*time.Minute, 2*time.Minute), 220 * s, 2 * time.Minute},
		{"the same gaps, a cheap relaunch: leave", periodic(20, 10, 5*time.Minute, 2*time.Minute), 20 * s, 30 * s},
		{"gaps of an hour: leave at once", periodic(4, 10, 10*time.Minute, time.Hour), 220 * s, 30 * s},
		{"a relaunch dearer than the longest gap: up to the ceiling", periodic(6, 10, 5*time.Minute, 25*time.Minute), 3 * time.Hour, 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.samples, tc.relaunch, 30*s, 30*time.Minute); got != tc.want {
				t.Errorf("Choose = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestChooseManyIdleFewReused: after a burst of 100 tasks, single tasks arrive
// every minute: one idle worker is reused each time, the other 99 only cost.
// A model of gaps between arrivals alone would keep all 100 for the next
// arrival; the demand's sliding peak lets them go.
func TestChooseManyIdleFewReused(t *testing.T) {
	var d []float64
	for range 10 {
		for range 30 { // 5 minutes of a 100-task burst
			d = append(d, 100)
		}
		for range 90 { // 15 minutes of one task a minute, each lasting 10 s
			d = append(d, 0)
		}
	}
	for i := range d {
		if d[i] == 0 && i%6 == 0 {
			d[i] = 1
		}
	}
	if got := Choose(series(10*time.Second, d...), 220*time.Second, 30*time.Second, 30*time.Minute); got > 5*time.Minute {
		t.Errorf("Choose = %v: 99 idle workers kept for one task a minute", got)
	}
}

func TestPools(t *testing.T) {
	feed := func(p *Pools, samples []Sample, boot time.Duration) {
		for _, s := range samples {
			p.Observe("a/b", s.At, s.Demand, boot)
		}
	}
	for _, tc := range []struct {
		name    string
		samples []Sample
		boot    time.Duration
		after   time.Duration // from the last sample
		want    time.Duration
	}{
		{"less than an hour of history: the fallback", periodic(4, 10, 5*time.Minute, 2*time.Minute), 160 * time.Second, 0, 5 * time.Minute},
		{"gaps of 2 minutes, relaunch 220 s: wait them out", periodic(20, 10, 5*time.Minute, 2*time.Minute), 160 * time.Second, 0, 2 * time.Minute},
		{"gaps of 2 minutes, relaunch 80 s: leave", periodic(20, 10, 5*time.Minute, 2*time.Minute), 20 * time.Second, 0, 30 * time.Second},
		{"no boot seen yet: the fallback", periodic(20, 10, 5*time.Minute, 2*time.Minute), 0, 0, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pools{Fallback: 5 * time.Minute}
			feed(p, tc.samples, tc.boot)
			last := tc.samples[len(tc.samples)-1].At
			if got := p.Timeout("a/b", last.Add(tc.after)); got != tc.want {
				t.Errorf("Timeout = %v, want %v", got, tc.want)
			}
			if got := p.Timeout("other/pool", last); got != 5*time.Minute {
				t.Errorf("a pool never observed: %v, want the fallback", got)
			}
		})
	}
}

// TestObserveKeepsTheWindow: samples older than the window are dropped, and one
// at the same time replaces the last.
func TestObserveKeepsTheWindow(t *testing.T) {
	p := &Pools{Window: time.Hour}
	for i := range 120 {
		p.Observe("p", start.Add(time.Duration(i)*time.Minute), float64(i), time.Second)
	}
	p.Observe("p", start.Add(119*time.Minute), 7, time.Second)
	h := p.pools["p"]
	if first := h.samples[0].At; start.Add(119*time.Minute).Sub(first) > time.Hour {
		t.Errorf("oldest sample %v: older than the window", first)
	}
	if last := h.samples[len(h.samples)-1]; last.Demand != 7 || len(h.samples) != 61 {
		t.Errorf("%d samples, last %+v; want 61, the last replaced by 7", len(h.samples), last)
	}
}
