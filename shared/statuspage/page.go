package statuspage

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
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

//go:embed page.html
var files embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"chart": chart,
	"ago":   ago,
	"num":   func(f float64) string { return fmt.Sprintf("%g", f) },
}).ParseFS(files, "page.html"))

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
	snap, err := Build(ctx, p.Store, p.Interval)
	if err != nil {
		p.log().ErrorContext(ctx, "status page", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "InternalServerError", "the fleet's status could not be read"), nil
	}
	if wantsJSON(ev) {
		body, _ := json.Marshal(snap) // times, numbers and strings always encode
		return response(http.StatusOK, "application/json; charset=utf-8", body), nil
	}
	var b bytes.Buffer
	refresh := p.Refresh
	if refresh <= 0 {
		refresh = 15 * time.Second
	}
	if err := page.Execute(&b, map[string]any{"S": snap, "Refresh": int(refresh.Seconds())}); err != nil {
		p.log().ErrorContext(ctx, "status page: render", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "InternalServerError", "the status page could not be rendered"), nil
	}
	return response(http.StatusOK, "text/html; charset=utf-8", b.Bytes()), nil
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
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%.1fh ago", d.Hours())
}

// Chart is one pool's capacity over time as SVG polylines: running, requested
// (stacked on running) and pending tasks (capped at the top), against maxCapacity.
type Chart struct {
	Width, Height                        int
	Running, Requested, Pending, MaxLine string
	Top                                  string
	From, To                             string
}

// chart lays the history out in a width x height box; nil with fewer than two
// samples (nothing to draw yet).
func chart(p Pool) *Chart {
	h := p.History
	if len(h) < 2 {
		return nil
	}
	const w, ht = 320, 80
	// The scale is capacity's: maxCapacity, or more if capacity ever exceeded it
	// (a lowered maximum). Pending tasks above it are drawn at the top.
	top := p.MaxCapacity
	for _, s := range h {
		top = math.Max(top, s.Running+s.Requested)
	}
	if top <= 0 {
		top = 1
	}
	t0, t1 := h[0].Time, h[len(h)-1].Time
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return t.Sub(t0).Seconds() / span * w }
	y := func(v float64) float64 { return ht - v/top*(ht-4) }
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
	c := &Chart{Width: w, Height: ht, Top: fmt.Sprintf("%g", top),
		Running:   line(func(s store.PoolSample) float64 { return s.Running }),
		Requested: line(func(s store.PoolSample) float64 { return s.Running + s.Requested }),
		Pending:   line(func(s store.PoolSample) float64 { return math.Min(float64(s.Pending), top) }),
		From:      t0.UTC().Format("15:04"), To: t1.UTC().Format("15:04")}
	if p.MaxCapacity > 0 {
		c.MaxLine = fmt.Sprintf("%.1f", y(p.MaxCapacity))
	}
	return c
}
