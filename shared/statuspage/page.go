package statuspage

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/store"
)

//go:embed page.html pool.html
var files embed.FS

var pages = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"chart":    chart,
	"bigChart": bigChart,
	"money":    func(f float64) string { return fmt.Sprintf("$%.2f/h", f) },
	"price": func(f float64) string {
		if f == 0 {
			return "unknown"
		}
		return fmt.Sprintf("$%.4f/h", f)
	},
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"since": since,
	"ago":   ago,
	"num":   func(f float64) string { return fmt.Sprintf("%g", f) },
}).ParseFS(files, "page.html", "pool.html"))

// Route is the page's route in template.yaml: the root URL.
const Route = "GET /"

// Page serves the status page (GET /) and its figures as JSON (the same URL with
// Accept: application/json, or ?format=json).
type Page struct {
	Store *store.Store
	// Interval is the provisioner's schedule (0: one minute).
	Interval time.Duration
	// Refresh is how often the page reloads itself (0: 15 seconds).
	Refresh time.Duration
	Log     *slog.Logger
}

// Serve is the Lambda handler for API Gateway HTTP API events of the route GET /.
func (p *Page) Serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method := ev.RequestContext.HTTP.Method
	if method != http.MethodGet && method != http.MethodHead {
		return jsonError(http.StatusMethodNotAllowed, "MethodNotAllowed", "the status page only answers GET"), nil
	}
	refresh := p.Refresh
	if refresh <= 0 {
		refresh = 15 * time.Second
	}
	if key, ok := ev.QueryStringParameters["pool"]; ok {
		return p.servePool(ctx, ev, key, refresh), nil
	}
	snap, err := Build(ctx, p.Store, p.Interval)
	if err != nil {
		p.log().ErrorContext(ctx, "status page", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "InternalServerError", "the fleet's status could not be read"), nil
	}
	for _, problem := range snap.Problems {
		p.log().WarnContext(ctx, "status page: part of the figures could not be read", "error", problem)
	}
	if wantsJSON(ev) {
		body, _ := json.Marshal(snap) // times, numbers and strings always encode
		return response(http.StatusOK, "application/json; charset=utf-8", body), nil
	}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "page.html", map[string]any{"S": snap, "Refresh": int(refresh.Seconds())}); err != nil {
		p.log().ErrorContext(ctx, "status page: render", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "InternalServerError", "the status page could not be rendered"), nil
	}
	return response(http.StatusOK, "text/html; charset=utf-8", b.Bytes()), nil
}

// servePool answers a pool's page (?pool=<key>).
func (p *Page) servePool(ctx context.Context, ev events.APIGatewayV2HTTPRequest, key string, refresh time.Duration) events.APIGatewayV2HTTPResponse {
	if key == "" || len(key) > 200 {
		return jsonError(http.StatusBadRequest, "InputValidationError", "pool must name a worker pool (its workerPoolId) or a worker type (wt:<name>)")
	}
	d, err := BuildPool(ctx, p.Store, p.Interval, key)
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("the provisioner has no figures for %q: no such worker pool or worker type, or not yet provisioned", key))
	}
	if err != nil {
		p.log().ErrorContext(ctx, "status page", "pool", key, "error", err.Error())
		return jsonError(http.StatusInternalServerError, "InternalServerError", "the pool's status could not be read")
	}
	for _, problem := range d.Problems {
		p.log().WarnContext(ctx, "status page: part of the figures could not be read", "error", problem)
	}
	if wantsJSON(ev) {
		body, _ := json.Marshal(d)
		return response(http.StatusOK, "application/json; charset=utf-8", body)
	}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "pool.html", map[string]any{"D": d, "Refresh": int(refresh.Seconds())}); err != nil {
		p.log().ErrorContext(ctx, "status page: render", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "InternalServerError", "the status page could not be rendered")
	}
	return response(http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}

func (p *Page) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func wantsJSON(ev events.APIGatewayV2HTTPRequest) bool {
	if ev.QueryStringParameters["format"] == "json" {
		return true
	}
	accept := ev.Headers["accept"]
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

func response(status int, contentType string, body []byte) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Body: string(body),
		Headers: map[string]string{"Content-Type": contentType, "Cache-Control": "no-store",
			"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
			"X-Content-Type-Options":  "nosniff"}}
}

func jsonError(status int, code, message string) events.APIGatewayV2HTTPResponse {
	body, _ := json.Marshal(map[string]string{"code": code, "message": message})
	return response(status, "application/json; charset=utf-8", body)
}

// ago is how long before now t was, roughly.
func ago(now, t time.Time) string {
	if now.Sub(t) < 0 {
		return "just now"
	}
	return since(now, t) + " ago"
}

// since is how long it has been from t to now, roughly.
func since(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%.1fh", d.Hours())
}

// Chart is one pool's capacity over time as SVG: running, requested (stacked on
// running) and pending tasks (capped at the top) as steps against maxCapacity, in a
// plot area with labelled axes (capacity; time in UTC), and the stretch since the
// last iteration drawn as a gap when the provisioner has stopped checking in.
type Chart struct {
	Width, Height                        int
	Left, Right, Top, Bottom             int // the plot area's edges
	Running, Requested, Pending, MaxLine string
	TopLabel                             string
	XTicks, YTicks                       []Tick
	// Gap, when set, is the stretch without iterations: from GapX to Right.
	Gap                    bool
	GapX, GapMid, GapWidth float64
	// Outages are earlier stretches without iterations, within the chart.
	Outages    []Span
	PlotHeight int
	YMid       int    // the y axis title's middle
	Label      string // for screen readers
}

// Span is a stretch of the time axis, from X, Width wide, and what it was.
type Span struct {
	X, Width float64
	Title    string
}

// Tick is one labelled point of an axis, at Pos (x or y in the SVG).
type Tick struct {
	Pos    float64
	Label  string
	Anchor string // the label's text-anchor: the axis's ends keep theirs inside the box
}

// chartSize is the main page's chart; the pool's page draws it twice as large.
const chartW, chartH = 360, 110

// chart lays p's history out for the snapshot's time; nil with fewer than two
// samples (nothing to draw yet).
func chart(p Pool, it *Iteration, now time.Time) *Chart {
	return chartSized(p, it, now, chartW, chartH)
}

func bigChart(p Pool, it *Iteration, now time.Time) *Chart {
	return chartSized(p, it, now, 2*chartW, 2*chartH)
}

func chartSized(p Pool, it *Iteration, now time.Time, w, ht int) *Chart {
	h := p.History
	if len(h) < 2 {
		return nil
	}
	c := &Chart{Width: w, Height: ht, Left: 30, Right: w - 8, Top: 8, Bottom: ht - 28}
	c.PlotHeight = c.Bottom - c.Top
	c.YMid = (c.Top + c.Bottom) / 2
	pw, ph := float64(c.Right-c.Left), float64(c.Bottom-c.Top)
	// The scale is capacity's: maxCapacity, or more if capacity ever exceeded it
	// (a lowered maximum). Pending tasks above it are drawn at the top.
	top := p.MaxCapacity
	for _, s := range h {
		top = math.Max(top, s.Running+s.Requested)
	}
	if top <= 0 {
		top = 1
	}
	t0, last := h[0].Time, h[len(h)-1].Time
	t1 := last
	// No iteration for over three intervals: the axis runs on to now, and what the
	// provisioner has not seen is left blank, not drawn as if it held.
	if it != nil && it.Status == "missing" && now.After(last) {
		t1, c.Gap = now, true
	}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return float64(c.Left) + t.Sub(t0).Seconds()/span*pw }
	y := func(v float64) float64 { return float64(c.Bottom) - v/top*ph }
	// Steps: a sample's figures hold until the next sample.
	line := func(v func(store.PoolSample) float64) string {
		var b strings.Builder
		for i, s := range h {
			if i > 0 {
				fmt.Fprintf(&b, " %.1f,%.1f ", x(s.Time), y(v(h[i-1])))
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(s.Time), y(v(s)))
		}
		return b.String()
	}
	c.Running = line(func(s store.PoolSample) float64 { return s.Running })
	c.Requested = line(func(s store.PoolSample) float64 { return s.Running + s.Requested })
	c.Pending = line(func(s store.PoolSample) float64 { return math.Min(float64(s.Pending), top) })
	c.TopLabel = fmt.Sprintf("%g", top)
	if p.MaxCapacity > 0 {
		c.MaxLine = fmt.Sprintf("%.1f", y(p.MaxCapacity))
	}
	if c.Gap {
		c.GapX = x(last)
		c.GapMid = (c.GapX + float64(c.Right)) / 2
		c.GapWidth = float64(c.Right) - c.GapX
	}
	if it != nil {
		for _, o := range it.Outages {
			from, to := maxTime(o.From, t0), minTime(o.To, t1)
			if !to.After(from) {
				continue
			}
			c.Outages = append(c.Outages, Span{X: x(from), Width: x(to) - x(from),
				Title: fmt.Sprintf("no iterations from %s to %s UTC", o.From.UTC().Format("15:04"), o.To.UTC().Format("15:04"))})
		}
	}
	c.YTicks = []Tick{{Pos: y(0), Label: "0"}, {Pos: y(top), Label: c.TopLabel}}
	format := "15:04"
	if t1.Sub(t0) < 10*time.Minute {
		format = "15:04:05"
	}
	for _, f := range []float64{0, 0.5, 1} {
		t := t0.Add(time.Duration(f * float64(t1.Sub(t0))))
		anchor := map[float64]string{0: "start", 0.5: "middle", 1: "end"}[f]
		c.XTicks = append(c.XTicks, Tick{Pos: x(t), Label: t.UTC().Format(format), Anchor: anchor})
	}
	c.Label = fmt.Sprintf("capacity of %s from %s to %s UTC, scale 0 to %s", p.Name, t0.UTC().Format(format), t1.UTC().Format(format), c.TopLabel)
	return c
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
