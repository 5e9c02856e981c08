package sim

import (
	"fmt"
	"image/color"
	"io"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/workerfleet/workerfleet/shared/provision"
)

// ChartBucket is the chart's resolution: each point is the largest value of its
// bucket, so short bursts stay visible and the file stays small.
const ChartBucket = 15 * time.Minute

// WriteChart draws pending tasks, running and requested capacity over trace time,
// one panel per policy, as SVG.
func (res *Result) WriteChart(w io.Writer) error {
	policies := make([]provision.Policy, 0, len(res.Summary.Policies))
	for _, p := range res.Summary.Policies {
		policies = append(policies, p.Policy)
	}
	if len(policies) == 0 {
		return fmt.Errorf("chart: no policy ran")
	}
	rows := make([][]*plot.Plot, len(policies))
	ymax := 0.0
	for i, pol := range policies {
		p, top, err := panel(res.Summary.Trace, pol, res.Series[pol])
		if err != nil {
			return err
		}
		ymax = max(ymax, top)
		rows[i] = []*plot.Plot{p}
	}
	for _, row := range rows {
		row[0].Y.Min, row[0].Y.Max = 0, ymax*1.05
	}
	c := vgsvg.New(10*vg.Inch, vg.Length(3.2*float64(len(policies)))*vg.Inch)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(policies), Cols: 1, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2,
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

// panel is one policy's plot, and the largest value on it.
func panel(trace string, pol provision.Policy, samples []Sample) (*plot.Plot, float64, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s", trace, pol)
	p.X.Label.Text = "trace time (hours)"
	p.Y.Label.Text = "tasks / capacity"
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.YOffs = vg.Points(12) // above the plot area, clear of the lines
	series := []struct {
		name  string
		color color.RGBA
		value func(Sample) float64
	}{
		{"running capacity", color.RGBA{R: 31, G: 119, B: 180, A: 255}, func(s Sample) float64 { return s.RunningCapacity }},
		{"requested capacity", color.RGBA{R: 44, G: 160, B: 44, A: 255}, func(s Sample) float64 { return s.Requested }},
		{"pending tasks", color.RGBA{R: 214, G: 39, B: 40, A: 255}, func(s Sample) float64 { return float64(s.Pending) }},
	}
	top := 0.0
	for _, s := range series {
		pts := bucketed(samples, s.value)
		for _, pt := range pts {
			top = max(top, pt.Y)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, 0, fmt.Errorf("chart: %w", err)
		}
		line.Color = s.color
		line.Width = vg.Points(1)
		p.Add(line)
		p.Legend.Add(s.name, line)
	}
	p.Add(plotter.NewGrid())
	return p, top, nil
}

// bucketed turns samples into one point per ChartBucket, the bucket's largest value.
func bucketed(samples []Sample, value func(Sample) float64) plotter.XYs {
	var pts plotter.XYs
	for i := 0; i < len(samples); {
		b := samples[i].At / ChartBucket
		v := 0.0
		for ; i < len(samples) && samples[i].At/ChartBucket == b; i++ {
			v = max(v, value(samples[i]))
		}
		pts = append(pts, plotter.XY{X: (time.Duration(b) * ChartBucket).Hours(), Y: v})
	}
	return pts
}
