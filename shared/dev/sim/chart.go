package sim

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ChartBucket is the idle-capacity panel's resolution: each point is its bucket's
// mean, so the file stays small.
const ChartBucket = 15 * time.Minute

// palette colours the policies, in the order they ran (workerfleet first, wider).
var palette = []color.RGBA{
	{R: 31, G: 119, B: 180, A: 255},  // blue
	{R: 214, G: 39, B: 40, A: 255},   // red
	{R: 255, G: 127, B: 14, A: 255},  // orange
	{R: 148, G: 103, B: 189, A: 255}, // purple
	{R: 44, G: 160, B: 44, A: 255},   // green
	{R: 140, G: 86, B: 75, A: 255},   // brown
}

// WriteChart draws, as SVG, what differs between the policies: the fleet's
// cumulative cost over trace time (all policies on one axis), the distribution
// of the measured tasks' waits, and idle capacity over trace time; the warm-up
// window is shaded, and the time axes end where the data ends.
func (res *Result) WriteChart(w io.Writer) error {
	if len(res.Summary.Policies) == 0 {
		return fmt.Errorf("chart: no policy ran")
	}
	panels := []func() (*plot.Plot, error){res.costPanel, res.waitPanel, res.idlePanel}
	rows := make([][]*plot.Plot, len(panels))
	for i, f := range panels {
		p, err := f()
		if err != nil {
			return err
		}
		rows[i] = []*plot.Plot{p}
	}
	c := vgsvg.New(10*vg.Inch, vg.Length(3.4*float64(len(rows)))*vg.Inch)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(rows, tiles, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

func (res *Result) newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (seed %d): %s", res.Summary.Trace, res.Summary.Seed, title)
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

// dataEnd is when the last policy's last worker is gone and no task waits, plus
// ChartBucket (the trace's data ends before the measured window does).
func (res *Result) dataEnd() time.Duration {
	var last time.Duration
	for _, ss := range res.Series {
		for i := len(ss) - 1; i >= 0; i-- {
			if s := ss[i]; s.Pending > 0 || s.RunningCapacity > 0 || s.Requested > 0 || s.Idle > 0 {
				last = max(last, s.At)
				break
			}
		}
	}
	return min(res.Summary.End, last+ChartBucket)
}

// timeAxis ends the plot's x axis where the data ends and shades the warm-up.
func (res *Result) timeAxis(p *plot.Plot, ymax float64) error {
	end := res.dataEnd().Hours()
	p.X.Min, p.X.Max = 0, end
	p.Y.Min, p.Y.Max = 0, math.Max(ymax*1.08, 1)
	warm := res.Summary.Warmup.Hours()
	shade, err := plotter.NewPolygon(plotter.XYs{{X: 0, Y: 0}, {X: warm, Y: 0}, {X: warm, Y: p.Y.Max}, {X: 0, Y: p.Y.Max}})
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	shade.Color = color.RGBA{R: 235, G: 235, B: 235, A: 255}
	shade.LineStyle.Width = 0
	p.Add(shade)
	p.Legend.Add(fmt.Sprintf("warm-up (not measured, %s)", hours(res.Summary.Warmup)), shade)
	return nil
}

func (res *Result) addLine(p *plot.Plot, i int, pol Policy, pts plotter.XYs) error {
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	line.Color = palette[i%len(palette)]
	line.Width = vg.Points(1)
	if pol == PolicyWorkerfleet {
		line.Width = vg.Points(2)
	}
	p.Add(line)
	p.Legend.Add(string(pol), line)
	return nil
}

// costPanel: the fleet's cost accrued in the measured window, over trace time.
func (res *Result) costPanel() (*plot.Plot, error) {
	p := res.newPlot("fleet cost, cumulative", "trace time (hours)", "USD")
	top := 0.0
	for _, ps := range res.Summary.Policies {
		for _, s := range res.Series[ps.Policy] {
			top = math.Max(top, s.CostUSD)
		}
	}
	if err := res.timeAxis(p, top); err != nil {
		return nil, err
	}
	for i, ps := range res.Summary.Policies {
		pts := bucketLast(res.Series[ps.Policy], res.dataEnd(), func(s Sample) float64 { return s.CostUSD })
		if err := res.addLine(p, i, ps.Policy, pts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// waitPanel: the share of measured tasks that waited at most x seconds, up to
// the largest p99 of the policies (the tail beyond is in the table).
func (res *Result) waitPanel() (*plot.Plot, error) {
	p := res.newPlot("wait distribution of the measured tasks", "wait (seconds)", "share of tasks waiting at most this")
	p.Legend.Top, p.Legend.Left = false, false
	xmax := 1.0
	for _, ps := range res.Summary.Policies {
		xmax = math.Max(xmax, ps.WaitP99*1.25)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, xmax, 0, 1
	for i, ps := range res.Summary.Policies {
		waits := res.Waits[ps.Policy]
		var pts plotter.XYs
		const steps = 300
		j := 0
		for k := 0; k <= steps; k++ {
			x := xmax * float64(k) / steps
			for j < len(waits) && waits[j] <= x {
				j++
			}
			share := 0.0
			if len(waits) > 0 {
				share = float64(j) / float64(len(waits))
			}
			pts = append(pts, plotter.XY{X: x, Y: share})
		}
		if err := res.addLine(p, i, ps.Policy, pts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// idlePanel: registered capacity without a task, each ChartBucket's mean.
func (res *Result) idlePanel() (*plot.Plot, error) {
	p := res.newPlot(fmt.Sprintf("idle capacity: registered, without a task (mean of each %s)", ChartBucket), "trace time (hours)", "capacity")
	p.Legend.Left = false
	series := make([]plotter.XYs, len(res.Summary.Policies))
	top := 0.0
	for i, ps := range res.Summary.Policies {
		series[i] = bucketMeans(res.Series[ps.Policy], res.dataEnd(), func(s Sample) float64 { return s.Idle })
		for _, pt := range series[i] {
			top = math.Max(top, pt.Y)
		}
	}
	if err := res.timeAxis(p, top); err != nil {
		return nil, err
	}
	for i, ps := range res.Summary.Policies {
		if err := res.addLine(p, i, ps.Policy, series[i]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// bucketLast turns samples up to end into one point per ChartBucket: the
// bucket's last.
func bucketLast(samples []Sample, end time.Duration, value func(Sample) float64) plotter.XYs {
	var pts plotter.XYs
	for i, s := range samples {
		if s.At > end {
			break
		}
		if s.At%ChartBucket == 0 || i == len(samples)-1 || samples[i+1].At > end {
			pts = append(pts, plotter.XY{X: s.At.Hours(), Y: value(s)})
		}
	}
	return pts
}

// bucketMeans turns samples up to end into one point per ChartBucket, at the
// bucket's end, the bucket's mean.
func bucketMeans(samples []Sample, end time.Duration, value func(Sample) float64) plotter.XYs {
	var pts plotter.XYs
	for len(samples) > 0 && samples[len(samples)-1].At > end {
		samples = samples[:len(samples)-1]
	}
	for i := 0; i < len(samples); {
		b := samples[i].At / ChartBucket
		sum, n := 0.0, 0
		for ; i < len(samples) && samples[i].At/ChartBucket == b; i++ {
			sum += value(samples[i])
			n++
		}
		pts = append(pts, plotter.XY{X: (time.Duration(b+1) * ChartBucket).Hours(), Y: sum / float64(n)})
	}
	if n := len(pts); n > 0 && len(samples) > 0 {
		pts[n-1].X = samples[len(samples)-1].At.Hours() // the last bucket ends with the data
	}
	return pts
}
