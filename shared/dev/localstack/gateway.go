package localstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

// HTTPFunction is a Lambda handler for API Gateway HTTP API events.
type HTTPFunction func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Gateway plays API Gateway's HTTP API on a local port: it matches each request
// against the template's routes as API Gateway does and invokes the function that
// serves the route with the event API Gateway would send.
type Gateway struct {
	routes    []gatewayRoute
	fallback  *samtemplate.Route // the $default route, if the template has one
	functions map[string]HTTPFunction
	log       *slog.Logger
	maxBody   int64
}

type gatewayRoute struct {
	samtemplate.Route
	segs []string
}

// NewGateway serves the template's HTTP API routes with the given functions (by
// logical id). Every function with routes must have a handler.
func NewGateway(t *samtemplate.Template, functions map[string]HTTPFunction, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{functions: functions, log: log, maxBody: 10 << 20}
	for _, r := range t.Routes() {
		if _, ok := functions[r.Function]; !ok {
			return nil, fmt.Errorf("gateway: no handler for function %s (route %s)", r.Function, r.Key())
		}
		if r.Path == samtemplate.DefaultPath {
			g.fallback = &r
			continue
		}
		g.routes = append(g.routes, gatewayRoute{Route: r, segs: strings.Split(strings.TrimPrefix(r.Path, "/"), "/")})
	}
	return g, nil
}

// Match finds the route API Gateway would pick for a method and decoded path, and its
// path parameters. Precedence, as API Gateway documents it: a route without variables
// beats one with variables, variables beat a greedy variable, more literal segments
// first; an exact method beats ANY. A request no route matches goes to the $default
// route, when the template has one.
func (g *Gateway) Match(method, path string) (samtemplate.Route, map[string]string, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best *gatewayRoute
	var bestParams map[string]string
	bestScore := -1
	for i := range g.routes {
		r := &g.routes[i]
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		params, score, ok := matchSegments(r.segs, segs)
		if !ok {
			continue
		}
		if r.Method == method {
			score++
		}
		if score > bestScore {
			best, bestParams, bestScore = r, params, score
		}
	}
	if best == nil {
		if g.fallback != nil {
			return *g.fallback, nil, true
		}
		return samtemplate.Route{}, nil, false
	}
	return best.Route, bestParams, true
}

// matchSegments matches route segments against path segments; the score ranks
// literal matches above variables above a greedy tail.
func matchSegments(route, path []string) (map[string]string, int, bool) {
	params := map[string]string{}
	score := 0
	for i, rs := range route {
		if strings.HasPrefix(rs, "{") && strings.HasSuffix(rs, "+}") {
			if i >= len(path) || path[i] == "" {
				return nil, 0, false
			}
			params[rs[1:len(rs)-2]] = strings.Join(path[i:], "/")
			return params, score * 2, true
		}
		if i >= len(path) {
			return nil, 0, false
		}
		switch {
		case strings.HasPrefix(rs, "{") && strings.HasSuffix(rs, "}"):
			if path[i] == "" {
				return nil, 0, false
			}
			params[rs[1:len(rs)-1]] = path[i]
			score += 10
		case rs == path[i]:
			score += 100
		default:
			return nil, 0, false
		}
	}
	if len(route) != len(path) {
		return nil, 0, false
	}
	return params, score*2 + 1, true
}

// ServeHTTP turns the request into an API Gateway v2 event, invokes the route's
// function and writes its response.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, err := url.PathUnescape(r.URL.EscapedPath())
	if err != nil {
		writeGatewayError(w, http.StatusBadRequest, "InputError", "the path is not validly percent-encoded")
		return
	}
	route, params, ok := g.Match(r.Method, path)
	if !ok {
		writeGatewayError(w, http.StatusNotFound, "ResourceNotFound", "no route serves "+r.Method+" "+path)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
	if err != nil {
		writeGatewayError(w, http.StatusBadRequest, "InputError", "the request body could not be read")
		return
	}
	if int64(len(body)) > g.maxBody {
		writeGatewayError(w, http.StatusRequestEntityTooLarge, "InputTooLarge", fmt.Sprintf("the request body is over the %d bytes API Gateway accepts", g.maxBody))
		return
	}
	ev := Event(r, path, route, params, body)
	resp, err := g.functions[route.Function](r.Context(), ev)
	if err != nil {
		g.log.Error("function failed", "function", route.Function, "error", err.Error())
		writeGatewayError(w, http.StatusInternalServerError, "InternalServerError", "the function failed")
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			writeGatewayError(w, http.StatusInternalServerError, "InternalServerError", "the function's response is not valid base64")
			return
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// Event builds the API Gateway v2 (payload format 2.0) event for a request, as API
// Gateway does: rawPath decoded, rawQueryString as sent, header names lower-cased and
// repeated values comma-joined, X-Forwarded-* added, and the body base64-encoded
// unless it is text.
func Event(r *http.Request, decodedPath string, route samtemplate.Route, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	now := time.Now()
	host := r.Host
	port := "80"
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	}
	sourceIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	headers := map[string]string{}
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	headers["host"] = host
	headers["x-forwarded-for"] = sourceIP
	headers["x-forwarded-port"] = port
	headers["x-forwarded-proto"] = "http"
	var cookies []string
	if c, ok := headers["cookie"]; ok {
		cookies = strings.Split(c, "; ")
		delete(headers, "cookie")
	}
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	if len(params) == 0 {
		params = nil
	}
	if len(query) == 0 {
		query = nil
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key(),
		RawPath:               decodedPath,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   route.Key(),
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  requestID(),
			APIID:      "local",
			DomainName: host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      decodedPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

func isText(contentType string, body []byte) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !utf8.Valid(body) {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeGatewayError answers what never reaches a function as Taskcluster services
// answer errors: a JSON body with code and message.
func writeGatewayError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}
